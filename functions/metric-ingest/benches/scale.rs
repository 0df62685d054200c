//! Issue 14's simulation at 1/100 of docs/capacity.md's workload A, on this machine: many
//! concurrent runs logging metric values into the FIFO run-events queue on moto, the real
//! `metric-ingest` binary under the `cargo lambda watch` emulator, and an event source mapping of
//! ours between them. It reports what the model predicts: requests per value by kind, the run
//! item's size, fires, end-to-end lag, and prints the model's figure beside each measured one.
//!
//! - **Load generator.** `--runs` runs (1,000) over 10 projects of one entity log 5 metrics (3
//!   watched: threshold, change and z-score automations, plus a `crashed` one for liveness) at
//!   `--rate` values a second in all (10,000), each run sending one envelope every `--flush`
//!   seconds (1: the Python client's default batching), ten envelopes of ten runs per
//!   `SendMessageBatch` (as the intake sends a request's envelopes), message group = the run. One
//!   run in a hundred diverges a third of the way in (its loss climbs), so automations fire.
//! - **Event source mapping** (what Lambda's does for `MetricIngestFunction` in template.yaml):
//!   `--concurrency` pollers, each `ReceiveMessage` of up to 10 (the template's `BatchSize`; FIFO
//!   sources have no batching window) with long polling, invokes its function instance with the
//!   SQS event through the emulator's invoke API, deletes what succeeded with one
//!   `DeleteMessageBatch` and leaves the `batchItemFailures` to come back after the visibility
//!   timeout (`ReportBatchItemFailures`).
//! - **Counting.** The function reaches moto through a proxy of ours that counts its requests by
//!   `X-Amz-Target` (DynamoDB and SQS both speak AWS JSON), and the items its `BatchGetItem`s
//!   returned; the generator and the pollers count their own SQS calls. At the end the table is
//!   scanned for the run items' sizes (DynamoDB's accounting: `automations_dynamo::metrics`).
//! - **Lag.** Per envelope: from the start of the send that carried it to the end of the
//!   invocation that committed it. Per fire: from the send of the envelope holding the step that
//!   fired to the fire's `created_at` (the function's clock at the batch; same machine).
//! - **Bounds.** Everything listens on 127.0.0.1. Sending stops after `--seconds`; the queue is
//!   drained for at most `--drain` more seconds; `--timeout` (default seconds + drain + 120) ends
//!   the whole run, failing, whatever state it is in.
//!
//! `cargo bench -p metric-ingest --bench scale -- --bench [--seconds 180] [--function PATH]`
//! runs the full size (PATH: e.g. `target/lambda/metric-ingest/bootstrap` of `cargo lambda build
//! --release`, else the bench profile's build of the binary); without `--bench` (as `cargo test
//! --all-targets` runs it) a smoke size of 20 runs at 200 values/s for 4 s, which asserts that
//! every envelope was committed, some fired, and the request counts keep the model's shape.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use automations_core::model::Automation;
use automations_core::store::{ExecutionStore, SeedAutomations};
use automations_core::time::Timestamp;
use automations_dynamo::metrics::item_size;
use automations_dynamo::{DynamoStore, SdkDynamo, create_table};
use automations_testkit::lambda::Emulator;
use automations_testkit::moto::Moto;
use automations_testkit::queues::create_queues;
use aws_sdk_sqs::types::{
    DeleteMessageBatchRequestEntry, MessageAttributeValue, MessageSystemAttributeName, QueueAttributeName,
    SendMessageBatchRequestEntry,
};
use axum::body::Body;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const METRICS: [&str; 5] = ["loss", "acc", "grad_norm", "lr", "throughput"];
const PROJECTS: usize = 10;
/// The template's `BatchSize` for `MetricIngestFunction` (the FIFO maximum).
const BATCH_SIZE: i32 = 10;
/// The template's `VisibilityTimeout` of `RunEventsQueue`.
const VISIBILITY_TIMEOUT: &str = "180";

#[derive(Debug, Clone)]
struct Options {
    full: bool,
    runs: usize,
    rate: f64,
    flush: f64,
    seconds: f64,
    drain: f64,
    timeout: f64,
    concurrency: usize,
    wait: i32,
    function: Option<String>,
}

impl Options {
    fn parse() -> Options {
        let args: Vec<String> = std::env::args().collect();
        let full = args.iter().any(|a| a == "--bench");
        let get = |name: &str| args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned();
        let num = |name: &str, default: f64| {
            get(name).map_or(default, |v| v.parse().unwrap_or_else(|_| panic!("{name} takes a number, got {v:?}")))
        };
        let (runs, rate, seconds, concurrency, wait) =
            if full { (1000.0, 10_000.0, 180.0, 4.0, 20.0) } else { (20.0, 200.0, 4.0, 2.0, 1.0) };
        let seconds = num("--seconds", seconds);
        let drain = num("--drain", if full { 120.0 } else { 30.0 });
        Options {
            full,
            runs: num("--runs", runs) as usize,
            rate: num("--rate", rate),
            flush: num("--flush", 1.0),
            seconds,
            drain,
            timeout: num("--timeout", seconds + drain + 120.0),
            concurrency: num("--concurrency", concurrency) as usize,
            wait: num("--wait", wait) as i32,
            function: get("--function"),
        }
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock after 1970").as_millis() as i64
}

/// Requests of one kind (an `X-Amz-Target`, or one of the harness's own calls).
#[derive(Debug, Default, Clone, Copy)]
struct Tally {
    requests: u64,
    /// Items a `BatchGetItem` returned.
    items: u64,
}

#[derive(Default)]
struct Counts(Mutex<BTreeMap<String, Tally>>);

impl Counts {
    fn add(&self, kind: &str, items: u64) {
        let mut m = self.0.lock().expect("counts lock");
        let t = m.entry(kind.to_string()).or_default();
        t.requests += 1;
        t.items += items;
    }

    fn get(&self, kind: &str) -> Tally {
        self.0.lock().expect("counts lock").get(kind).copied().unwrap_or_default()
    }

    fn snapshot(&self) -> BTreeMap<String, Tally> {
        self.0.lock().expect("counts lock").clone()
    }
}

/// The counting proxy between the function and moto.
struct Proxy {
    upstream: String,
    client: reqwest::Client,
    counts: Counts,
}

async fn forward(State(p): State<Arc<Proxy>>, request: axum::extract::Request) -> Response {
    let (parts, body) = request.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, 64 << 20).await else {
        return (axum::http::StatusCode::BAD_REQUEST, "unreadable body").into_response();
    };
    let target = parts.headers.get("x-amz-target").and_then(|v| v.to_str().ok()).unwrap_or("(no target)").to_string();
    let url = format!("{}{}", p.upstream, parts.uri.path_and_query().map_or("/", |x| x.as_str()));
    let mut out = p.client.request(parts.method, url).body(bytes);
    for (k, v) in &parts.headers {
        if k != axum::http::header::HOST && k != axum::http::header::CONTENT_LENGTH {
            out = out.header(k, v);
        }
    }
    let answer = match out.send().await {
        Ok(a) => a,
        Err(e) => return (axum::http::StatusCode::BAD_GATEWAY, e.to_string()).into_response(),
    };
    let status = answer.status();
    let headers = answer.headers().clone();
    let body = answer.bytes().await.unwrap_or_default();
    let items = if target.ends_with(".BatchGetItem") {
        serde_json::from_slice::<Value>(&body)
            .ok()
            .and_then(|v| {
                v["Responses"].as_object().map(|t| t.values().filter_map(Value::as_array).map(Vec::len).sum())
            })
            .unwrap_or(0) as u64
    } else {
        0
    };
    p.counts.add(&target, items);
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    for (k, v) in &headers {
        if k != axum::http::header::TRANSFER_ENCODING && k != axum::http::header::CONTENT_LENGTH {
            response.headers_mut().append(k, v.clone());
        }
    }
    response
}

async fn start_proxy(upstream: String) -> (Arc<Proxy>, u16) {
    let proxy = Arc::new(Proxy {
        upstream,
        client: reqwest::Client::builder().pool_max_idle_per_host(64).build().expect("an HTTP client"),
        counts: Counts::default(),
    });
    let app = axum::Router::new().fallback(forward).with_state(proxy.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind the proxy");
    let port = listener.local_addr().expect("proxy address").port();
    tokio::spawn(async move { axum::serve(listener, app).await.expect("the proxy serves") });
    (proxy, port)
}

fn automations() -> Vec<Automation> {
    let mut out = Vec::new();
    for p in 0..PROJECTS {
        let scope = json!({"type": "project", "entity": "acme", "project": format!("p{p}")});
        let none = json!({"type": "none"});
        let hook = json!({"type": "webhook", "integration": "ops-hook"});
        for doc in [
            json!({"name": format!("loss-high-p{p}"), "scope": scope, "action": hook,
                   "event": {"type": "RUN_METRIC_THRESHOLD", "metric": {"name": "loss", "agg": "AVERAGE", "window": 5, "cmp": "$gt", "threshold": 2.0}}}),
            json!({"name": format!("acc-drop-p{p}"), "scope": scope, "action": none,
                   "event": {"type": "RUN_METRIC_CHANGE", "metric": {"name": "acc", "agg": "AVERAGE", "current_window": 10, "prior_window": 50,
                             "change_type": "RELATIVE", "change_dir": "DECREASE", "amount": 0.5}}}),
            json!({"name": format!("grad-spike-p{p}"), "scope": scope, "action": none,
                   "event": {"type": "RUN_METRIC_ZSCORE", "metric": {"name": "grad_norm", "window": 30, "threshold": 4.0, "change_dir": "INCREASE"}}}),
            json!({"name": format!("run-crashed-p{p}"), "scope": scope, "action": none, "event": {"type": "RUN_STATE", "states": ["crashed"]}}),
        ] {
            let name = doc["name"].as_str().expect("a name").to_string();
            out.push(Automation::from_create(&name, &doc).expect("a valid automation"));
        }
    }
    out
}

/// The simulated training runs.
struct Load {
    runs: usize,
    rows: i64,
    diverging: fn(usize) -> bool,
    diverge_tick: i64,
}

impl Load {
    fn run_id(r: usize) -> String {
        format!("r{r:04}")
    }

    fn project(r: usize) -> String {
        format!("p{}", r % PROJECTS)
    }

    /// Run `r`'s envelope of flush tick `tick`: `rows` steps of the 5 metrics.
    fn envelope(&self, r: usize, tick: i64) -> (String, i64) {
        let diverged = (self.diverging)(r) && tick >= self.diverge_tick;
        let first = tick * self.rows + 1;
        let rows: Vec<Value> = (first..first + self.rows)
            .map(|step| {
                let x = step as f64;
                let values = json!({
                    "loss": if diverged { 3.0 + x / 100.0 } else { 1.0 / (1.0 + x / 50.0) + (x * 0.7).sin() * 0.01 },
                    "acc": 0.5 + (x / 1000.0).min(0.4) + (x * 1.3).cos() * 0.01,
                    "grad_norm": 1.0 + (x * 0.9 + r as f64).sin() * 0.1,
                    "lr": 0.001,
                    "throughput": 1000.0 + (x * 0.3).sin() * 50.0,
                });
                json!({"step": step, "values": values})
            })
            .collect();
        // The envelope's time is the send time, as the intake stamps it (the clock of cooldowns).
        let body = json!({"specversion": "1.0", "id": format!("{}-{tick}", Load::run_id(r)), "source": "sim",
            "type": "run.metrics.logged", "time": Timestamp(now_ms()).to_string(),
            "data": {"entity": "acme", "project": Load::project(r), "run_id": Load::run_id(r), "rows": rows}})
        .to_string();
        (body, first)
    }
}

#[derive(Default)]
struct Observed {
    /// Envelope lags, ms.
    lags: Mutex<Vec<i64>>,
    /// Invocation round trips, ms.
    invocations: Mutex<Vec<f64>>,
    /// Messages per invocation, summed.
    messages: AtomicU64,
    values_committed: AtomicU64,
    failures_reported: AtomicU64,
    envelopes_sent: AtomicU64,
    values_sent: AtomicU64,
    send_errors: AtomicU64,
    /// (run, first step of the envelope) -> send time, for the diverging runs' envelopes.
    sent_at: Mutex<HashMap<(String, i64), i64>>,
}

fn one_in_a_hundred(run: usize) -> bool {
    run % 100 == 7
}

fn one_in_ten(run: usize) -> bool {
    run % 10 == 7
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// CPU seconds a process used so far (user + system, all its threads).
fn cpu_seconds(pid: &str) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { return f64::NAN };
    // Fields after the command name (which may hold spaces) start at state, field 3.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok()).unwrap_or(f64::NAN);
    // utime and stime are fields 14 and 15, i.e. 11 and 12 after the state; clock ticks of 1/100 s.
    (ticks(11) + ticks(12)) / 100.0
}

#[allow(clippy::too_many_arguments)]
async fn poller(
    i: usize,
    sqs: aws_sdk_sqs::Client,
    queue: String,
    queue_arn: String,
    invoke_url: String,
    http: reqwest::Client,
    wait: i32,
    sending: Arc<AtomicBool>,
    counts: Arc<Counts>,
    seen: Arc<Observed>,
) {
    loop {
        let received = sqs
            .receive_message()
            .queue_url(&queue)
            .max_number_of_messages(BATCH_SIZE)
            .wait_time_seconds(wait)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .message_attribute_names("All")
            .send()
            .await;
        counts.add("esm: ReceiveMessage", 0);
        let messages = match received {
            Ok(r) => r.messages.unwrap_or_default(),
            Err(e) => {
                eprintln!("poller {i}: receive failed: {e:?}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        if messages.is_empty() {
            if !sending.load(Ordering::Relaxed) {
                return;
            }
            continue;
        }
        let records: Vec<Value> = messages
            .iter()
            .map(|m| {
                let attributes: serde_json::Map<String, Value> = m
                    .attributes()
                    .map(|a| a.iter().map(|(k, v)| (k.as_str().to_string(), json!(v))).collect())
                    .unwrap_or_default();
                let message_attributes: serde_json::Map<String, Value> = m
                    .message_attributes()
                    .map(|a| {
                        a.iter()
                            .map(|(k, v)| {
                                (
                                    k.clone(),
                                    json!({"stringValue": v.string_value(), "dataType": v.data_type(),
                                                   "stringListValues": [], "binaryListValues": []}),
                                )
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                json!({"messageId": m.message_id(), "receiptHandle": m.receipt_handle(), "body": m.body(),
                       "attributes": attributes, "messageAttributes": message_attributes, "md5OfBody": m.md5_of_body(),
                       "eventSource": "aws:sqs", "eventSourceARN": queue_arn, "awsRegion": "us-east-1"})
            })
            .collect();
        let event = json!({"Records": records}).to_string();
        let start = Instant::now();
        let answer = http.post(&invoke_url).body(event).send().await;
        let answer = match answer {
            Ok(a) => a.text().await.unwrap_or_default(),
            Err(e) => {
                // Nothing is deleted: the messages come back after the visibility timeout.
                eprintln!("poller {i}: invocation failed: {e}");
                continue;
            }
        };
        let done = now_ms();
        seen.invocations.lock().expect("lock").push(start.elapsed().as_secs_f64() * 1000.0);
        seen.messages.fetch_add(messages.len() as u64, Ordering::Relaxed);
        let Ok(answer) = serde_json::from_str::<Value>(&answer) else {
            eprintln!("poller {i}: the function answered no batch response ({answer}); the batch will be retried");
            continue;
        };
        let failed: Vec<&str> = answer["batchItemFailures"]
            .as_array()
            .map(|f| f.iter().filter_map(|x| x["itemIdentifier"].as_str()).collect())
            .unwrap_or_default();
        seen.failures_reported.fetch_add(failed.len() as u64, Ordering::Relaxed);
        let mut delete = Vec::new();
        for (n, m) in messages.iter().enumerate() {
            if failed.contains(&m.message_id().unwrap_or_default()) {
                continue;
            }
            let attribute = |name: &str| {
                m.message_attributes()
                    .and_then(|a| a.get(name))
                    .and_then(|v| v.string_value())
                    .and_then(|v| v.parse::<i64>().ok())
            };
            if let Some(sent) = attribute("sent_ms") {
                seen.lags.lock().expect("lock").push(done - sent);
            }
            seen.values_committed.fetch_add(attribute("values").unwrap_or(0) as u64, Ordering::Relaxed);
            delete.push(
                DeleteMessageBatchRequestEntry::builder()
                    .id(n.to_string())
                    .receipt_handle(m.receipt_handle().unwrap_or_default())
                    .build()
                    .expect("a delete entry"),
            );
        }
        if !delete.is_empty() {
            counts.add("esm: DeleteMessageBatch", 0);
            if let Err(e) = sqs.delete_message_batch().queue_url(&queue).set_entries(Some(delete)).send().await {
                eprintln!("poller {i}: delete failed (the messages come back and are evaluated again): {e:?}");
            }
        }
    }
}

async fn generator(
    load: Arc<Load>,
    opts: Options,
    sqs: aws_sdk_sqs::Client,
    queue: String,
    counts: Arc<Counts>,
    seen: Arc<Observed>,
) {
    let batches = load.runs.div_ceil(10);
    let values_per_envelope = load.rows * METRICS.len() as i64;
    let in_flight = Arc::new(tokio::sync::Semaphore::new(16));
    let start = tokio::time::Instant::now();
    let mut tasks = Vec::new();
    let mut tick = 0i64;
    'ticks: loop {
        for b in 0..batches {
            let due = start + Duration::from_secs_f64(opts.flush * (tick as f64 + b as f64 / batches as f64));
            if due.duration_since(start).as_secs_f64() >= opts.seconds {
                break 'ticks;
            }
            tokio::time::sleep_until(due).await;
            let permit = in_flight.clone().acquire_owned().await.expect("the semaphore is never closed");
            let (load, sqs, queue, counts, seen) =
                (load.clone(), sqs.clone(), queue.clone(), counts.clone(), seen.clone());
            tasks.push(tokio::spawn(async move {
                let sent = now_ms();
                let mut entries = Vec::new();
                for r in b * 10..((b + 1) * 10).min(load.runs) {
                    let (body, first) = load.envelope(r, tick);
                    if (load.diverging)(r) {
                        seen.sent_at.lock().expect("lock").insert((Load::run_id(r), first), sent);
                    }
                    let number = |v: i64| {
                        MessageAttributeValue::builder()
                            .data_type("Number")
                            .string_value(v.to_string())
                            .build()
                            .expect("an attribute")
                    };
                    entries.push(
                        SendMessageBatchRequestEntry::builder()
                            .id(format!("m{r}"))
                            .message_body(body)
                            .message_group_id(format!("acme/{}/{}", Load::project(r), Load::run_id(r)))
                            .message_deduplication_id(format!("{}-{tick}", Load::run_id(r)))
                            .message_attributes("sent_ms", number(sent))
                            .message_attributes("values", number(values_per_envelope))
                            .build()
                            .expect("a batch entry"),
                    );
                }
                let n = entries.len() as u64;
                counts.add("generator: SendMessageBatch", 0);
                match sqs.send_message_batch().queue_url(&queue).set_entries(Some(entries)).send().await {
                    Ok(out) if out.failed.is_empty() => {
                        seen.envelopes_sent.fetch_add(n, Ordering::Relaxed);
                        seen.values_sent.fetch_add(n * values_per_envelope as u64, Ordering::Relaxed);
                    }
                    Ok(out) => {
                        seen.send_errors.fetch_add(out.failed.len() as u64, Ordering::Relaxed);
                        let ok = n - out.failed.len() as u64;
                        seen.envelopes_sent.fetch_add(ok, Ordering::Relaxed);
                        seen.values_sent.fetch_add(ok * values_per_envelope as u64, Ordering::Relaxed);
                    }
                    Err(e) => {
                        eprintln!("generator: send failed: {e:?}");
                        seen.send_errors.fetch_add(n, Ordering::Relaxed);
                    }
                }
                drop(permit);
            }));
        }
        tick += 1;
    }
    // Sends still waiting on a saturated queue after a grace period are given up (and not
    // counted as sent), so that the run ends and reports.
    let grace = start + Duration::from_secs_f64(opts.seconds + 10.0);
    for t in tasks {
        let abort = t.abort_handle();
        if tokio::time::timeout_at(grace, t).await.is_err() {
            abort.abort();
        }
    }
}

async fn queue_depth(sqs: &aws_sdk_sqs::Client, queue: &str) -> (u64, u64) {
    let a = sqs
        .get_queue_attributes()
        .queue_url(queue)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
        .send()
        .await
        .ok()
        .and_then(|a| a.attributes)
        .unwrap_or_default();
    let get = |k: QueueAttributeName| a.get(&k).and_then(|v| v.parse().ok()).unwrap_or(0);
    (
        get(QueueAttributeName::ApproximateNumberOfMessages),
        get(QueueAttributeName::ApproximateNumberOfMessagesNotVisible),
    )
}

/// Sizes of the table's items by kind (`RUN#`, `FIRE#`, ...), by DynamoDB's accounting.
async fn item_sizes(dynamodb: &aws_sdk_dynamodb::Client) -> BTreeMap<String, Vec<u64>> {
    let mut sizes: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    let mut start = None;
    loop {
        let page = dynamodb
            .scan()
            .table_name("automations")
            .set_exclusive_start_key(start)
            .send()
            .await
            .expect("scan the table");
        for item in page.items() {
            let pk = item.get("pk").and_then(|v| v.as_s().ok()).map_or("?", String::as_str);
            let kind = pk.split('#').next().unwrap_or("?").to_string();
            sizes.entry(kind).or_default().push(item_size(item));
        }
        start = page.last_evaluated_key;
        if start.is_none() {
            return sizes;
        }
    }
}

async fn simulate(opts: Options) {
    let function_bin = opts.function.clone().unwrap_or_else(|| env!("CARGO_BIN_EXE_metric-ingest").to_string());
    let rows = ((opts.rate * opts.flush / (opts.runs * METRICS.len()) as f64).round() as i64).max(1);
    let load = Arc::new(Load {
        runs: opts.runs,
        rows,
        // One run in a hundred (one in ten at smoke size, so a few do) diverges.
        diverging: if opts.full { one_in_a_hundred } else { one_in_ten },
        diverge_tick: ((opts.seconds / opts.flush) / 3.0) as i64,
    });
    let target_rate = (opts.runs as i64 * rows * METRICS.len() as i64) as f64 / opts.flush;
    println!(
        "simulation: {} runs, {} values/s target ({} rows x {} metrics per envelope, one envelope per run every {} s), {} s, {} function instances, {}",
        opts.runs,
        target_rate,
        rows,
        METRICS.len(),
        opts.flush,
        opts.seconds,
        opts.concurrency,
        function_bin
    );

    let moto = Moto::start();
    let dynamodb = moto.dynamodb();
    create_table(&dynamodb, "automations").await.expect("create the table");
    let sqs = moto.sqs();
    let queues = create_queues(&sqs).await;
    sqs.set_queue_attributes()
        .queue_url(&queues.runs)
        .attributes(QueueAttributeName::VisibilityTimeout, VISIBILITY_TIMEOUT)
        .send()
        .await
        .expect("set the run queue's visibility timeout");
    let runs_arn = sqs
        .get_queue_attributes()
        .queue_url(&queues.runs)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .expect("the run queue's ARN")
        .attributes
        .and_then(|mut a| a.remove(&QueueAttributeName::QueueArn))
        .unwrap_or_default();
    let store = DynamoStore::new(SdkDynamo::new(dynamodb.clone()), "automations");
    let autos = automations();
    for a in &autos {
        store.put_automation(a, Timestamp(0)).await.expect("store an automation");
    }

    let (proxy, proxy_port) = start_proxy(moto.endpoint()).await;
    let names: Vec<String> = (0..opts.concurrency).map(|i| format!("metric-ingest-{i}")).collect();
    let emulator = Emulator::start(&names.iter().map(String::as_str).collect::<Vec<_>>());
    let mut env: Vec<(String, String)> = moto.env();
    for (k, v) in [
        ("AWS_ENDPOINT_URL", format!("http://127.0.0.1:{proxy_port}")),
        ("TABLE_NAME", "automations".to_string()),
        ("RUN_QUEUE_URL", queues.runs.clone()),
        ("DELIVERY_QUEUE_URL", queues.deliveries.clone()),
        ("DEAD_LETTER_QUEUE_URL", queues.runs_dlq.clone()),
        // The template's default: automations are read once per 10 s per warm instance.
        ("AUTOMATIONS_CACHE_SECONDS", "10".to_string()),
        ("RUST_LOG", "warn".to_string()),
    ] {
        env.retain(|(name, _)| name != k);
        env.push((k.to_string(), v));
    }
    let functions: Vec<_> =
        names.iter().map(|n| emulator.run_function(n, std::path::Path::new(&function_bin), &env)).collect();

    let counts = Arc::new(Counts::default());
    let seen = Arc::new(Observed::default());
    let sending = Arc::new(AtomicBool::new(true));
    let http = reqwest::Client::builder().timeout(Duration::from_secs(120)).build().expect("an HTTP client");
    let pids: Vec<(String, String)> = [("moto".to_string(), moto.pid()), ("emulator".to_string(), emulator.pid())]
        .into_iter()
        .chain(functions.iter().enumerate().map(|(i, f)| (format!("metric-ingest-{i}"), f.pid())))
        .map(|(n, p)| (n, p.to_string()))
        .chain(std::iter::once(("this harness".to_string(), "self".to_string())))
        .collect();
    let cpu_before: Vec<f64> = pids.iter().map(|(_, p)| cpu_seconds(p)).collect();
    let began = Instant::now();

    let pollers: Vec<_> = (0..opts.concurrency)
        .map(|i| {
            let url = format!("http://127.0.0.1:{}/2015-03-31/functions/{}/invocations", emulator.port(), names[i]);
            tokio::spawn(poller(
                i,
                sqs.clone(),
                queues.runs.clone(),
                runs_arn.clone(),
                url,
                http.clone(),
                opts.wait,
                sending.clone(),
                counts.clone(),
                seen.clone(),
            ))
        })
        .collect();
    // Progress, every 10 s of the full run.
    let progress = {
        let (seen, sqs, queue, full) = (seen.clone(), sqs.clone(), queues.runs.clone(), opts.full);
        tokio::spawn(async move {
            let mut last = (0u64, 0u64);
            loop {
                tokio::time::sleep(Duration::from_secs(10)).await;
                if !full {
                    continue;
                }
                let (sent, done) =
                    (seen.values_sent.load(Ordering::Relaxed), seen.values_committed.load(Ordering::Relaxed));
                let (visible, in_flight) = queue_depth(&sqs, &queue).await;
                println!(
                    "  {:>4.0} s: sent {:>6.0} values/s, committed {:>6.0} values/s, queue {visible} waiting + {in_flight} in flight",
                    began.elapsed().as_secs_f64(),
                    (sent - last.0) as f64 / 10.0,
                    (done - last.1) as f64 / 10.0
                );
                last = (sent, done);
            }
        })
    };
    generator(load.clone(), opts.clone(), sqs.clone(), queues.runs.clone(), counts.clone(), seen.clone()).await;
    let sent_for = began.elapsed().as_secs_f64();
    // The pollers stop at their first empty receive from now on, or at the drain limit.
    sending.store(false, Ordering::Relaxed);
    let drain_deadline = Instant::now() + Duration::from_secs_f64(opts.drain);
    for p in pollers {
        let left = drain_deadline.saturating_duration_since(Instant::now());
        if tokio::time::timeout(left, p).await.is_err() {
            eprintln!("the queue was not drained within --drain {} s", opts.drain);
        }
    }
    progress.abort();
    let elapsed = began.elapsed().as_secs_f64();
    let cpu: Vec<f64> = pids.iter().zip(&cpu_before).map(|((_, p), before)| cpu_seconds(p) - before).collect();
    let (left_visible, left_in_flight) = queue_depth(&sqs, &queues.runs).await;

    // Fires and their lag, from the executions the function recorded.
    let mut fires: BTreeMap<String, usize> = BTreeMap::new();
    let mut fire_lags = Vec::new();
    let sent_at = seen.sent_at.lock().expect("lock").clone();
    let now = automations_lambda::now();
    for a in &autos {
        let mut cursor: Option<String> = None;
        loop {
            let page = store
                .list_executions(&a.id, cursor.as_deref(), 200, now)
                .await
                .expect("list an automation's executions");
            for e in &page.items {
                *fires.entry(a.id.as_str().split("-p").next().unwrap_or(a.id.as_str()).to_string()).or_default() += 1;
                let run = e.event["run_id"].as_str().unwrap_or_default().to_string();
                let step = e.event["step"].as_i64().unwrap_or(0);
                // The envelope holding `step` began at the largest first step not after it.
                let first = step - (step - 1) % rows;
                if let Some(sent) = sent_at.get(&(run, first)) {
                    fire_lags.push(e.created_at.since(Timestamp(*sent)) as f64);
                }
            }
            match page.next {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
    }
    let dead_lettered = {
        let (v, nv) = queue_depth(&sqs, &queues.runs_dlq).await;
        v + nv
    };
    let queued_deliveries = {
        let (v, nv) = queue_depth(&sqs, &queues.deliveries).await;
        v + nv
    };
    let sizes = item_sizes(&dynamodb).await;

    // The report.
    let values_sent = seen.values_sent.load(Ordering::Relaxed);
    let values = seen.values_committed.load(Ordering::Relaxed);
    let envelopes = seen.envelopes_sent.load(Ordering::Relaxed);
    let messages = seen.messages.load(Ordering::Relaxed);
    let mut invocations = seen.invocations.lock().expect("lock").clone();
    invocations.sort_by(f64::total_cmp);
    let mut lags: Vec<f64> = seen.lags.lock().expect("lock").iter().map(|&l| l as f64).collect();
    lags.sort_by(f64::total_cmp);
    fire_lags.sort_by(f64::total_cmp);
    println!();
    println!(
        "sent {envelopes} envelopes ({values_sent} values) in {sent_for:.1} s: {:.0} values/s ({} send failures); committed {values} values, {:.0} values/s over {elapsed:.1} s; left in the queue: {left_visible} waiting, {left_in_flight} in flight",
        values_sent as f64 / sent_for,
        seen.send_errors.load(Ordering::Relaxed),
        values as f64 / elapsed
    );
    println!(
        "invocations: {} of {:.2} messages on average ({:.0} values); round trip p50 {:.1} ms, p99 {:.1} ms; {} messages reported failed",
        invocations.len(),
        messages as f64 / invocations.len().max(1) as f64,
        values as f64 / invocations.len().max(1) as f64,
        percentile(&invocations, 0.5),
        percentile(&invocations, 0.99),
        seen.failures_reported.load(Ordering::Relaxed)
    );
    println!(
        "end-to-end lag, envelope sent -> batch committed: p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms ({} envelopes)",
        percentile(&lags, 0.5),
        percentile(&lags, 0.99),
        lags.last().copied().unwrap_or(f64::NAN),
        lags.len()
    );
    println!(
        "fires: {fires:?}; {queued_deliveries} queued for delivery, {dead_lettered} envelopes dead-lettered; lag, value sent -> fire recorded: p50 {:.0} ms, p99 {:.0} ms ({} fires)",
        percentile(&fire_lags, 0.5),
        percentile(&fire_lags, 0.99),
        fire_lags.len()
    );
    println!("CPU used over the run (share of one core):");
    for ((name, _), secs) in pids.iter().zip(&cpu) {
        println!("  {name:18} {secs:7.1} s  {:5.0}%", 100.0 * secs / elapsed);
    }
    let per_value = |n: u64| n as f64 / values.max(1) as f64;
    let function_counts = proxy.counts.snapshot();
    let own = counts.snapshot();
    println!("requests (per value; per million values):");
    for (kind, t) in function_counts
        .iter()
        .map(|(k, t)| (format!("function: {k}"), t))
        .chain(own.iter().map(|(k, t)| (k.clone(), t)))
    {
        let items = if t.items > 0 { format!(" ({} items)", t.items) } else { String::new() };
        println!(
            "  {kind:48} {:>8}{items}  {:.5}  {:>9.0}",
            t.requests,
            per_value(t.requests),
            per_value(t.requests) * 1e6
        );
    }
    let runs_sizes = sizes.get("RUN").cloned().unwrap_or_default();
    let mut sorted_runs = runs_sizes.clone();
    sorted_runs.sort_unstable();
    let mean_run = runs_sizes.iter().sum::<u64>() as f64 / runs_sizes.len().max(1) as f64;
    println!(
        "items: {} run items, mean {:.0} bytes, p50 {}, max {} bytes; {}",
        runs_sizes.len(),
        mean_run,
        sorted_runs.get(sorted_runs.len() / 2).copied().unwrap_or(0),
        sorted_runs.last().copied().unwrap_or(0),
        sizes
            .iter()
            .filter(|(k, _)| k.as_str() != "RUN")
            .map(|(k, v)| format!(
                "{} {k} items of mean {:.0} bytes",
                v.len(),
                v.iter().sum::<u64>() as f64 / v.len() as f64
            ))
            .collect::<Vec<_>>()
            .join(", ")
    );

    // docs/capacity.md's predictions beside the measurements.
    let target = |t: &str| function_counts.get(&format!("DynamoDB_20120810.{t}")).copied().unwrap_or_default();
    let sqs_target = |t: &str| function_counts.get(&format!("AmazonSQS.{t}")).copied().unwrap_or_default();
    let (gets, updates, puts, queries) =
        (target("BatchGetItem"), target("UpdateItem"), target("PutItem"), target("Query"));
    let wcu_per_save = (mean_run / 1024.0).ceil().max(1.0);
    let rcu_per_item = (mean_run / 4096.0).ceil().max(1.0);
    let values_per_envelope = (rows * METRICS.len() as i64) as f64;
    let values_per_batch = values_per_envelope * BATCH_SIZE as f64;
    let rows_fmt = |name: &str, model: String, measured: String| println!("  {name:44} {model:>22} {measured:>22}");
    println!("docs/capacity.md's model vs this run:");
    rows_fmt("quantity", "model".into(), "measured".into());
    rows_fmt(
        "values per invocation",
        format!("{values_per_batch:.0}"),
        format!("{:.1}", values as f64 / invocations.len().max(1) as f64),
    );
    rows_fmt(
        "BatchGetItem per invocation",
        "1".into(),
        format!("{:.3}", gets.requests as f64 / invocations.len().max(1) as f64),
    );
    rows_fmt(
        "BatchGetItem per value",
        format!("{:.4}", 1.0 / values_per_batch),
        format!("{:.4}", per_value(gets.requests)),
    );
    rows_fmt(
        "run saves (UpdateItem) per value",
        format!("{:.3}", 1.0 / values_per_envelope),
        format!("{:.3}", per_value(updates.requests)),
    );
    rows_fmt(
        "conditional PutItem (fires) per value",
        "fires / values".into(),
        format!("{:.6}", per_value(puts.requests)),
    );
    rows_fmt("Query (automations cache) per value", "~0".into(), format!("{:.6}", per_value(queries.requests)));
    rows_fmt("run item bytes", "~1,500".into(), format!("{mean_run:.0}"));
    rows_fmt(
        "WRU per value",
        format!("{:.2}", 2.0 / values_per_envelope),
        format!("{:.3}", per_value(updates.requests) * wcu_per_save + per_value(puts.requests)),
    );
    rows_fmt(
        "RRU per value (strongly consistent)",
        format!("{:.2}", 1.0 / values_per_envelope),
        format!("{:.3}", per_value(gets.items) * rcu_per_item),
    );
    rows_fmt(
        "SQS sends per value",
        format!("{:.3} (1 env/call)", 1.0 / values_per_envelope),
        format!("{:.4} (10 env/call)", per_value(own.get("generator: SendMessageBatch").map_or(0, |t| t.requests))),
    );
    rows_fmt(
        "SQS receives per value",
        format!("{:.4}", 1.0 / values_per_batch),
        format!("{:.4}", per_value(counts.get("esm: ReceiveMessage").requests)),
    );
    rows_fmt(
        "SQS deletes per value",
        format!("{:.4}", 1.0 / values_per_batch),
        format!("{:.4}", per_value(counts.get("esm: DeleteMessageBatch").requests)),
    );
    rows_fmt(
        "function's own SQS sends per value",
        "fires / values".into(),
        format!("{:.6}", per_value(sqs_target("SendMessage").requests + sqs_target("SendMessageBatch").requests)),
    );
    rows_fmt(
        "Lambda invocations per value",
        format!("{:.4}", 1.0 / values_per_batch),
        format!("{:.4}", per_value(invocations.len() as u64)),
    );
    rows_fmt(
        "invocation duration p50 (ms)",
        "~50 (AWS, not measured)".into(),
        format!("{:.1} (moto)", percentile(&invocations, 0.5)),
    );
    // Cost per million values at the measured counts and docs/capacity.md's list prices (no API
    // Gateway or config-api: the generator writes to the queue as the intake would).
    let m = 1e6 / values.max(1) as f64;
    let wru = (updates.requests as f64 * wcu_per_save + puts.requests as f64) * m;
    let rru = gets.items as f64 * rcu_per_item * m;
    let sqs_requests = (own.values().map(|t| t.requests).sum::<u64>()
        + function_counts.iter().filter(|(k, _)| k.starts_with("AmazonSQS.")).map(|(_, t)| t.requests).sum::<u64>())
        as f64
        * m;
    let lambda = invocations.len() as f64 * m * (0.2e-6 + 0.25 * percentile(&invocations, 0.5) / 1000.0 * 0.0000166667);
    println!(
        "cost per million values at these counts (us-east-1 list prices of docs/capacity.md): DynamoDB {:.0} WRU ${:.4} + {:.0} RRU ${:.4}, SQS {:.0} requests ${:.4}, Lambda ${:.4}: ${:.4}",
        wru,
        wru * 0.625e-6,
        rru,
        rru * 0.125e-6,
        sqs_requests,
        sqs_requests * 0.5e-6,
        lambda,
        wru * 0.625e-6 + rru * 0.125e-6 + sqs_requests * 0.5e-6 + lambda
    );

    if !opts.full {
        // The smoke run's checks: the path works end to end and keeps the model's shape.
        assert_eq!(seen.send_errors.load(Ordering::Relaxed), 0, "every send succeeded");
        assert_eq!(dead_lettered, 0, "no envelope was dead-lettered");
        assert_eq!((left_visible, left_in_flight), (0, 0), "the queue was drained");
        assert_eq!(values, values_sent, "every value sent was committed once");
        assert_eq!(lags.len() as u64, envelopes, "every envelope was committed once");
        assert!(gets.requests <= invocations.len() as u64, "at most one BatchGetItem per invocation");
        assert!(updates.requests <= messages, "at most one save per run per batch");
        assert!(fires.get("loss-high").copied().unwrap_or(0) >= 1, "the diverging runs fired: {fires:?}");
        assert!(fire_lags.len() >= fires["loss-high"], "every fire of a diverging run has its lag");
        assert_eq!(runs_sizes.len(), opts.runs, "one item per run");
    }
    drop(functions);
    drop(emulator);
}

fn main() {
    let opts = Options::parse();
    let runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("a runtime");
    let limit = Duration::from_secs_f64(opts.timeout);
    runtime.block_on(async {
        // The servers (moto, the emulator, the functions) are children killed when their guards
        // drop, which a timeout does by dropping the simulation's future.
        if tokio::time::timeout(limit, simulate(opts.clone())).await.is_err() {
            eprintln!("the simulation did not finish within --timeout {} s", opts.timeout);
            std::process::exit(1);
        }
    });
}

//! `automations replay` end to end: a JSON Lines file of the evaluator benchmark's workload
//! through the release binary, timed from process start to exit, against the parse bound: a
//! serde_json typed parse of the same lines (envelope, rows, values) in this process, in the same
//! run. Also the replay's peak RSS, and the time and RSS of the same file through standard input.
//!
//! `cargo bench --bench replay` runs the full size (10 million values); `cargo test` a smoke size.
//! `cargo bench --bench replay -- --gigabyte` replays a file of about 1 GB instead (30 million
//! values), for the memory bound.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../shared/core/benches/workload.rs"]
mod workload;

use serde::Deserialize;
use std::borrow::Cow;
use std::io::{BufRead, BufWriter, Write};
use std::process::{Command, Stdio};
use std::time::Instant;

/// The binary's allocator, so the parse bound is measured on the same footing as the replay.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// What a typed parse of one metrics envelope reads: the parse bound of replay.
#[derive(Deserialize)]
#[allow(dead_code)] // read, not used: the point is the parse
struct Envelope<'a> {
    #[serde(borrow)]
    specversion: Cow<'a, str>,
    #[serde(borrow)]
    id: Cow<'a, str>,
    #[serde(borrow)]
    source: Cow<'a, str>,
    #[serde(rename = "type", borrow)]
    ty: Cow<'a, str>,
    #[serde(borrow)]
    time: Cow<'a, str>,
    #[serde(borrow)]
    data: Data<'a>,
}

#[derive(Deserialize)]
#[allow(dead_code)]
struct Data<'a> {
    #[serde(borrow)]
    entity: Cow<'a, str>,
    #[serde(borrow)]
    project: Cow<'a, str>,
    #[serde(borrow)]
    run_id: Cow<'a, str>,
    #[serde(borrow)]
    rows: Vec<Row<'a>>,
}

#[derive(Deserialize)]
#[allow(dead_code)]
struct Row<'a> {
    step: i64,
    #[serde(borrow)]
    time: Option<Cow<'a, str>>,
    #[serde(borrow)]
    values: Values<'a>,
}

/// A row's values as read, in order: the least a typed parse can build.
struct Values<'a>(Vec<(Cow<'a, str>, Option<f64>)>);

impl<'de: 'a, 'a> Deserialize<'de> for Values<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Values<'a>, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> serde::de::Visitor<'de> for V<'a> {
            type Value = Values<'a>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("metric values")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Values<'a>, A::Error> {
                let mut out = Vec::with_capacity(map.size_hint().unwrap_or(10));
                while let Some(k) = map.next_key::<&'de str>()? {
                    out.push((Cow::Borrowed(k), map.next_value::<Option<f64>>()?));
                }
                Ok(Values(out))
            }
        }
        d.deserialize_map(V(std::marker::PhantomData))
    }
}

fn rusage(who: libc::c_int) -> libc::rusage {
    // SAFETY: getrusage only writes the struct it is given.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::getrusage(who, &mut usage) };
    assert_eq!(rc, 0, "getrusage");
    usage
}

/// The largest resident set of any child waited for so far, in MB.
fn children_peak_rss_mb() -> f64 {
    rusage(libc::RUSAGE_CHILDREN).ru_maxrss as f64 / 1024.0
}

/// CPU seconds (user and system) used so far by this process, or by its waited-for children.
/// CPU time rather than wall time: on a machine shared with other work, waiting for a core
/// is not the code's cost.
fn cpu_seconds(who: libc::c_int) -> f64 {
    let u = rusage(who);
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    secs(u.ru_utime) + secs(u.ru_stime)
}

/// The parse bound: read the lines of `events` and parse each into typed structs; the values
/// read.
fn typed_parse(events: &std::path::Path) -> usize {
    let file = std::io::BufReader::with_capacity(256 * 1024, std::fs::File::open(events).unwrap());
    let mut parsed = 0usize;
    for line in file.lines() {
        let line = line.expect("read events");
        let env: Envelope<'_> = serde_json::from_str(&line).expect("a typed parse of the workload");
        parsed += env.data.rows.iter().map(|r| r.values.0.len()).sum::<usize>();
    }
    parsed
}

fn main() {
    // `--parse-only FILE`: only the parse bound, on a file of the workload's lines, for a count
    // of instructions (`valgrind --tool=callgrind`) that does not depend on the machine's load.
    let args: Vec<String> = std::env::args().collect();
    if let Some(at) = args.iter().position(|a| a == "--parse-only") {
        let values = typed_parse(std::path::Path::new(args.get(at + 1).expect("--parse-only FILE")));
        println!("replay: parsed {values} values");
        return;
    }
    let gigabyte = std::env::args().any(|a| a == "--gigabyte");
    let mut size = workload::size();
    if gigabyte {
        size.steps *= 3;
    }
    let dir = std::env::temp_dir().join(format!("automations-replay-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let automations = dir.join("automations.json");
    let events = dir.join("events.jsonl");
    std::fs::write(&automations, serde_json::to_vec(&workload::automations()).unwrap()).expect("write automations");
    let chunks = size.steps.div_ceil(workload::ROWS_PER_ENVELOPE);
    let mut out = BufWriter::new(std::fs::File::create(&events).expect("create events"));
    for chunk in 0..chunks {
        for run in 0..size.runs {
            writeln!(out, "{}", workload::envelope_json(run, chunk, size.steps)).expect("write events");
        }
    }
    out.flush().expect("flush events");
    drop(out);
    let bytes = std::fs::metadata(&events).unwrap().len();
    let values = size.runs * size.steps * workload::METRICS.len();

    // The parse bound: read the lines and parse each into typed structs.
    let parse_once = || {
        let start = cpu_seconds(libc::RUSAGE_SELF);
        assert_eq!(typed_parse(&events), values);
        cpu_seconds(libc::RUSAGE_SELF) - start
    };

    let replay = |stdin: bool| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_automations"));
        cmd.args(["replay", "--automations"]).arg(&automations).arg("--events").stderr(Stdio::inherit());
        let start = Instant::now();
        let cpu = cpu_seconds(libc::RUSAGE_CHILDREN);
        let output = if stdin {
            cmd.arg("-").stdin(std::fs::File::open(&events).unwrap()).output()
        } else {
            cmd.arg(&events).output()
        }
        .expect("run automations replay");
        let wall = start.elapsed().as_secs_f64();
        assert!(output.status.success(), "replay failed: {:?}", output.status);
        let cpu = cpu_seconds(libc::RUSAGE_CHILDREN) - cpu;
        (cpu, wall, output.stdout.iter().filter(|&&b| b == b'\n').count())
    };
    // Interleaved, and the best of several of each: on this shared machine the same run's CPU
    // time moves by a third from one run to the next (the host lends the cores elsewhere), and
    // that only ever adds time.
    let rounds = if std::env::args().any(|a| a == "--bench") { 10 } else { 1 };
    let (mut elapsed, mut wall, fires) = replay(false);
    let rss = children_peak_rss_mb();
    let mut parse = parse_once();
    for _ in 1..rounds {
        let (cpu, w, again) = replay(false);
        assert_eq!(again, fires, "the same file gives the same fires");
        (elapsed, wall) = (elapsed.min(cpu), wall.min(w));
        parse = parse.min(parse_once());
    }
    let (piped, _, piped_fires) = replay(true);
    assert_eq!(fires, piped_fires, "a file and a pipe give the same fires");
    println!(
        "replay: {values} values ({:.0} MB of JSON Lines) in {elapsed:.2} s of CPU ({wall:.2} s wall): {:.2} million values/s, {fires} fires",
        bytes as f64 / 1e6,
        values as f64 / elapsed / 1e6
    );
    println!(
        "replay: typed serde_json parse of the same lines {parse:.2} s of CPU; replay / parse = {:.2}x",
        elapsed / parse
    );
    println!(
        "replay: peak RSS {rss:.0} MB ({:.2} of the file's size); from standard input {piped:.2} s of CPU",
        rss / (bytes as f64 / 1e6)
    );
    if std::env::var_os("AUTOMATIONS_BENCH_KEEP").is_some() {
        println!("replay: kept {}", dir.display());
    } else {
        std::fs::remove_dir_all(&dir).expect("clean up");
    }
}

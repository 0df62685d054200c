//! `automations doctor`: checks a local deployment the way a new user would need them checked,
//! and says what to fix: the database, the API key, each integration's reachability (a TCP
//! connection to its host, never a request, so no receiver gets a delivery) and the clock.

use anyhow::Result;
use automations_api::auth;
use automations_core::EntityId;
use automations_core::model::IntegrationKind;
use automations_core::store::{ApiKeyStore, ExecutionStore, IntegrationStore, ready_now};
use automations_core::time::{Clock, Timestamp};
use automations_delivery::SystemClock;
use automations_sqlite::SqliteStore;
use automations_sqlite::secrets::SecretKeys;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

/// How long a connection to an integration's host may take before it counts as unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

struct Report {
    failed: usize,
}

impl Report {
    fn ok(&self, what: &str, detail: &str) {
        println!("ok    {what}: {detail}");
    }
    fn fail(&mut self, what: &str, detail: &str, fix: &str) {
        self.failed += 1;
        println!("FAIL  {what}: {detail}\n      fix: {fix}");
    }
    fn skip(&self, what: &str, why: &str) {
        println!("skip  {what}: {why}");
    }
}

/// Run every check; exit status 0 when all passed, 1 otherwise. `key` is the API key to check
/// (from `--key` or `AUTOMATIONS_API_KEY`); its integrations are the ones checked.
pub fn run(db: &Path, key: Option<&str>) -> Result<ExitCode> {
    let mut report = Report { failed: 0 };
    let now = SystemClock.now();
    let store = if !db.exists() {
        report.fail(
            "database",
            &format!("{} does not exist", db.display()),
            "start `automations serve --db` with this path once (it creates it), or pass the right --db",
        );
        None
    } else {
        match SqliteStore::open(db) {
            Ok(s) => {
                report.ok("database", &format!("{} opens and its schema is current", db.display()));
                unseal(&mut report, s, db)
            }
            Err(e) => {
                report.fail(
                    "database",
                    &format!("{}: {e}", db.display()),
                    "check the file's permissions and that it is an automations database (a newer build may have migrated it)",
                );
                None
            }
        }
    };
    let Some(store) = store else {
        return Ok(ExitCode::from(1));
    };
    check_clock(&mut report, &store, now);
    let entity = match key.map(str::trim).filter(|k| !k.is_empty()) {
        None => {
            report.skip("API key", "none given (--key or AUTOMATIONS_API_KEY); integrations not checked");
            None
        }
        Some(key) => match ready_now(store.find_api_key(&auth::hash_key(key))) {
            Ok(Some(record)) => {
                report.ok("API key", &format!("grants entity {:?}", record.entity));
                Some(record.entity)
            }
            Ok(None) => {
                report.fail(
                    "API key",
                    "this database does not know it",
                    "make one with `automations keys create --entity E --db` on this database",
                );
                None
            }
            Err(e) => {
                report.fail("API key", &format!("cannot read the keys: {e}"), "see the database check");
                None
            }
        },
    };
    if let Some(entity) = entity {
        check_integrations(&mut report, &store, &entity)?;
    }
    Ok(if report.failed == 0 { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

/// Open the integrations with the key ring `serve` uses (its environment variable, or the key
/// file beside the database); without it the sealed integrations cannot be read.
fn unseal(report: &mut Report, store: SqliteStore, db: &Path) -> Option<SqliteStore> {
    let mut key_file = db.as_os_str().to_owned();
    key_file.push(".key");
    let env_set = std::env::var_os(automations_sqlite::secrets::KEYS_VAR).is_some_and(|v| !v.is_empty());
    if !env_set && !Path::new(&key_file).exists() {
        report.skip("secrets key", "no AUTOMATIONS_SECRET_KEYS and no key file yet: `serve` makes one on first start");
        return Some(store);
    }
    let sealed = SecretKeys::from_env_or_file(db)
        .map_err(|e| e.to_string())
        .and_then(|keys| store.with_secret_keys(keys).map_err(|e| e.to_string()));
    match sealed {
        Ok((store, _)) => {
            report.ok("secrets key", "opens the sealed integration secrets");
            Some(store)
        }
        Err(e) => {
            report.fail(
                "secrets key",
                &e,
                "give the key ring the database was sealed with (AUTOMATIONS_SECRET_KEYS, or the key file beside it)",
            );
            None
        }
    }
}

/// The wall clock must not be behind what this database already recorded (cooldowns and expiry
/// read it), nor absurd.
fn check_clock(report: &mut Report, store: &SqliteStore, now: Timestamp) {
    let newest = store.newest_rejects(1).ok().and_then(|r| r.first().map(|(_, r)| r.received_at));
    let due = ready_now(store.next_due(Timestamp(0))).ok().flatten();
    let recorded = newest.into_iter().chain(due).max();
    if now < Timestamp(1_704_067_200_000) {
        report.fail("clock", &format!("the system clock says {now}"), "set the system time (e.g. enable NTP)");
    } else if let Some(t) = recorded.filter(|t| *t > now.plus(60_000)) {
        report.fail(
            "clock",
            &format!("the system clock ({now}) is behind a time this database recorded ({t})"),
            "set the system time (e.g. enable NTP); until then expiry and retries run late",
        );
    } else {
        report.ok("clock", &format!("{now}"));
    }
}

fn check_integrations(report: &mut Report, store: &SqliteStore, entity: &EntityId) -> Result<()> {
    let mut cursor = None;
    let mut seen = 0;
    loop {
        let page = ready_now(store.list_integrations(entity, cursor.as_deref(), 200))?;
        for i in &page.items {
            seen += 1;
            let what = format!("integration {:?}", i.name);
            if let Some(why) = &i.disabled {
                report.fail(&what, &format!("disabled: {why}"), "fix the endpoint, then create the integration again");
                continue;
            }
            // The URL itself is not printed: a Slack webhook URL is a credential.
            let url = match &i.kind {
                IntegrationKind::Webhook { url, .. } => url.as_str(),
                IntegrationKind::Slack { url, .. } => url.expose(),
                _ => {
                    report.skip(&what, "takes no deliveries (it brings events in)");
                    continue;
                }
            };
            match reach(url) {
                Ok(addr) => report.ok(&what, &format!("{addr} accepts connections")),
                Err(e) => {
                    report.fail(&what, &e, "check the URL, DNS and firewall; deliveries to it are retried for 24 hours")
                }
            }
        }
        match page.next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    if seen == 0 {
        report.skip("integrations", &format!("entity {entity:?} has none"));
    }
    Ok(())
}

/// Resolve the URL's host and open a TCP connection to it; the host:port connected to.
fn reach(url: &str) -> Result<String, String> {
    let (scheme, rest) = url.split_once("://").ok_or("the URL has no scheme")?;
    let default_port = match scheme {
        "https" => 443,
        "http" => 80,
        other => return Err(format!("the URL's scheme {other:?} is not http or https")),
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let authority = authority.rsplit_once('@').map_or(authority, |(_, host)| host);
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(']') || authority.starts_with('[') => match p.parse::<u16>() {
            Ok(port) => (h, port),
            Err(_) => (authority, default_port),
        },
        _ => (authority, default_port),
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let target = format!("{host}:{port}");
    let addrs: Vec<_> = std::net::ToSocketAddrs::to_socket_addrs(&(host, port))
        .map_err(|e| format!("{target} does not resolve: {e}"))?
        .collect();
    let mut last = format!("{target} resolves to no address");
    for addr in addrs {
        match std::net::TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT) {
            Ok(_) => return Ok(target),
            Err(e) => last = format!("{target} ({addr}) refuses or does not answer: {e}"),
        }
    }
    Err(last)
}

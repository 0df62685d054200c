//! Instants as milliseconds since the Unix epoch, and RFC 3339 parsing and formatting.
//!
//! The core never reads the wall clock: event times come from the events, and the adapters pass
//! "now" in through [`Clock`]. Hand-written rather than a date crate because the core needs only
//! these two conversions.

use std::fmt;

/// An instant, in milliseconds since 1970-01-01T00:00:00Z.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp(pub i64);

/// A span of time in milliseconds.
pub type Millis = i64;

/// One second, in milliseconds.
pub const SECOND: Millis = 1_000;
/// One minute, in milliseconds.
pub const MINUTE: Millis = 60 * SECOND;
/// One hour, in milliseconds.
pub const HOUR: Millis = 60 * MINUTE;
/// One day, in milliseconds.
pub const DAY: Millis = 24 * HOUR;

/// Where "now" comes from: the system clock in the adapters, a fixed one in tests.
pub trait Clock: Send + Sync {
    /// The current instant.
    fn now(&self) -> Timestamp;
}

/// A clock that always says the same instant.
#[derive(Debug, Clone, Copy)]
pub struct FixedClock(pub Timestamp);

impl Clock for FixedClock {
    fn now(&self) -> Timestamp {
        self.0
    }
}

impl Timestamp {
    /// Before every instant: where an event-time clock starts.
    pub const MIN: Timestamp = Timestamp(i64::MIN);
    /// After every instant: what never expires.
    pub const MAX: Timestamp = Timestamp(i64::MAX);

    /// This instant moved `d` later (earlier when `d` is negative), saturating at the ends.
    pub fn plus(self, d: Millis) -> Timestamp {
        Timestamp(self.0.saturating_add(d))
    }

    /// This instant moved `d` earlier (later when `d` is negative), saturating at the ends.
    pub fn minus(self, d: Millis) -> Timestamp {
        Timestamp(self.0.saturating_sub(d))
    }

    /// The span from `earlier` to this instant: negative when `earlier` is in fact later,
    /// saturating rather than overflowing between the far ends ([`Timestamp::MIN`], [`Timestamp::MAX`]).
    pub fn since(self, earlier: Timestamp) -> Millis {
        self.0.saturating_sub(earlier.0)
    }

    /// Parse an RFC 3339 date-time: `2026-11-01T12:00:00Z`, `2026-11-01T12:00:00.123+02:00`.
    /// Fractions beyond milliseconds are truncated.
    pub fn parse_rfc3339(s: &str) -> Result<Timestamp, String> {
        let b = s.as_bytes();
        let bad = || format!("{s:?} is not an RFC 3339 date-time (like 2026-11-01T12:00:00Z)");
        if b.len() < 20 {
            return Err(bad());
        }
        let num = |from: usize, len: usize| -> Result<i64, String> {
            let part = b.get(from..from + len).ok_or_else(bad)?;
            if !part.iter().all(u8::is_ascii_digit) {
                return Err(bad());
            }
            Ok(part.iter().fold(0i64, |acc, d| acc * 10 + i64::from(d - b'0')))
        };
        let (year, month, day) = (num(0, 4)?, num(5, 2)?, num(8, 2)?);
        let (hour, min, sec) = (num(11, 2)?, num(14, 2)?, num(17, 2)?);
        if b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
            return Err(bad());
        }
        if b[13] != b':' || b[16] != b':' {
            return Err(bad());
        }
        if !(1..=12).contains(&month)
            || day < 1
            || day > days_in_month(year, month)
            || hour > 23
            || min > 59
            || sec > 60
        {
            return Err(bad());
        }
        let mut i = 19;
        let mut millis = 0i64;
        if b[i] == b'.' {
            i += 1;
            let start = i;
            while i < b.len() && b[i].is_ascii_digit() {
                if i - start < 3 {
                    millis = millis * 10 + i64::from(b[i] - b'0');
                }
                i += 1;
            }
            if i == start {
                return Err(bad());
            }
            for _ in (i - start)..3 {
                millis *= 10;
            }
        }
        let offset_min = match b.get(i) {
            Some(b'Z' | b'z') if i + 1 == b.len() => 0,
            Some(sign @ (b'+' | b'-')) if i + 6 == b.len() && b[i + 3] == b':' => {
                let (h, m) = (num(i + 1, 2)?, num(i + 4, 2)?);
                if h > 23 || m > 59 {
                    return Err(bad());
                }
                let off = h * 60 + m;
                if *sign == b'-' { -off } else { off }
            }
            _ => return Err(bad()),
        };
        let days = days_from_civil(year, month, day);
        let secs = days * 86_400 + hour * 3600 + min * 60 + sec.min(59) - offset_min * 60;
        Ok(Timestamp(secs * 1000 + millis))
    }
}

/// Serialize a [`Timestamp`] as its RFC 3339 text (`#[serde(serialize_with = "rfc3339")]`).
pub fn rfc3339<S: serde::Serializer>(t: &Timestamp, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(t)
}

/// [`rfc3339`] for an optional timestamp (`None` as `null`).
pub fn rfc3339_opt<S: serde::Serializer>(t: &Option<Timestamp>, s: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => s.collect_str(t),
        None => s.serialize_none(),
    }
}

impl fmt::Display for Timestamp {
    /// RFC 3339 in UTC, with milliseconds only when there are some.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = self.0.div_euclid(1000);
        let ms = self.0.rem_euclid(1000);
        let days = secs.div_euclid(86_400);
        let rem = secs.rem_euclid(86_400);
        let (y, m, d) = civil_from_days(days);
        write!(f, "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}", rem / 3600, rem / 60 % 60, rem % 60)?;
        if ms != 0 {
            write!(f, ".{ms:03}")?;
        }
        f.write_str("Z")
    }
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

// Howard Hinnant's days_from_civil / civil_from_days.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_utc_and_offsets() {
        assert_eq!(Timestamp::parse_rfc3339("1970-01-01T00:00:00Z").unwrap(), Timestamp(0));
        let t = Timestamp::parse_rfc3339("2026-11-01T12:00:05Z").unwrap();
        assert_eq!(t.0, 1_793_534_405_000);
        assert_eq!(Timestamp::parse_rfc3339("2026-11-01T14:00:05+02:00").unwrap(), t);
        assert_eq!(Timestamp::parse_rfc3339("2026-11-01T12:00:05.5Z").unwrap(), t.plus(500));
        assert_eq!(Timestamp::parse_rfc3339("2026-11-01T12:00:05.123456Z").unwrap(), t.plus(123));
    }

    #[test]
    fn refuses_malformed() {
        for s in [
            "2026-11-01",
            "2026-11-01T12:00:05",
            "2026-13-01T12:00:05Z",
            "2026-02-30T12:00:05Z",
            "2026-11-01T25:00:05Z",
            "2026-11-01T12:00:05.Z",
            "2026-11-01T12:00:05+0200",
            "yesterday at noon, roughly",
        ] {
            assert!(Timestamp::parse_rfc3339(s).is_err(), "{s}");
        }
    }

    #[test]
    fn formats_round_trip() {
        for s in ["2026-11-01T12:00:05Z", "2000-02-29T23:59:59.001Z", "1969-12-31T23:59:59Z"] {
            assert_eq!(Timestamp::parse_rfc3339(s).unwrap().to_string(), s);
        }
    }

    #[test]
    fn arithmetic_saturates() {
        let t = Timestamp(1_000);
        assert_eq!(t.plus(500), Timestamp(1_500));
        assert_eq!(t.minus(500), Timestamp(500));
        assert_eq!(t.minus(-500), Timestamp(1_500));
        assert_eq!(Timestamp(1_500).since(t), 500);
        assert_eq!(t.since(Timestamp(1_500)), -500);
        assert_eq!(Timestamp::MIN.minus(1), Timestamp::MIN);
        assert_eq!(Timestamp::MAX.plus(1), Timestamp::MAX);
        assert_eq!(Timestamp::MAX.since(Timestamp::MIN), i64::MAX);
        assert_eq!(Timestamp::MIN.since(Timestamp::MAX), i64::MIN);
    }
}

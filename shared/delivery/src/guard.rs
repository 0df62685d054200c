//! The address guard: deliveries connect only to addresses the operator allows.
//!
//! The check runs inside the DNS resolver the HTTP client uses ([`GuardedResolver`]), on every
//! address a name resolves to, and drops the refused ones; so the address checked is the address
//! connected to, and a name that resolves to 127.0.0.1 (or that a DNS server re-points between a
//! check and the connection) cannot slip past. URLs whose host is an IP literal never reach a
//! resolver, so [`check_literal`] checks them before sending. Redirects are not followed and
//! proxies are not used (see [`crate::HttpSender`]), so neither can route around the check.

use automations_core::delivery::address::refusal;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use std::net::{IpAddr, SocketAddr};

/// A delivery refused because of where it would connect.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("refused to connect to {host}: {why} (private and internal addresses are not allowed here)")]
pub struct RefusedAddress {
    /// The host as the URL names it.
    pub host: String,
    /// Which kind of address it is, e.g. "a loopback address".
    pub why: String,
}

/// Resolves names with the system resolver, keeping only allowed addresses.
#[derive(Debug, Clone, Copy)]
pub struct GuardedResolver {
    /// Allow every address (the local mode's default).
    pub allow_private: bool,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allow_private = self.allow_private;
        let host = name.as_str().to_string();
        Box::pin(async move {
            let found: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let allowed = filter(&host, found, allow_private)?;
            let addrs: Addrs = Box::new(allowed.into_iter());
            Ok(addrs)
        })
    }
}

/// The allowed addresses among `found`; an error naming the first refusal when none is left.
pub fn filter(host: &str, found: Vec<SocketAddr>, allow_private: bool) -> Result<Vec<SocketAddr>, RefusedAddress> {
    if allow_private {
        return Ok(found);
    }
    let mut first_refusal = None;
    let allowed: Vec<SocketAddr> = found
        .into_iter()
        .filter(|a| match refusal(a.ip()) {
            None => true,
            Some(why) => {
                first_refusal.get_or_insert(why);
                false
            }
        })
        .collect();
    match (allowed.is_empty(), first_refusal) {
        (true, Some(why)) => Err(RefusedAddress { host: host.to_string(), why: format!("it resolves to {why}") }),
        _ => Ok(allowed),
    }
}

/// Check a URL host that is an IP literal (`http://127.0.0.1/`, `http://[::1]/`).
pub fn check_literal(host: &str, allow_private: bool) -> Result<(), RefusedAddress> {
    if allow_private {
        return Ok(());
    }
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    match bare.parse::<IpAddr>().ok().and_then(refusal) {
        Some(why) => Err(RefusedAddress { host: host.to_string(), why: format!("it is {why}") }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_refused_addresses_and_names_the_reason() {
        let found: Vec<SocketAddr> = vec!["127.0.0.1:0".parse().unwrap(), "8.8.8.8:0".parse().unwrap()];
        assert_eq!(filter("h", found.clone(), false).unwrap(), vec!["8.8.8.8:0".parse::<SocketAddr>().unwrap()]);
        assert_eq!(filter("h", found, true).unwrap().len(), 2);
        let e = filter("metadata.internal", vec!["169.254.169.254:0".parse().unwrap()], false).unwrap_err();
        assert!(e.to_string().contains("cloud metadata"), "{e}");
        assert!(check_literal("[::1]", false).is_err());
        assert!(check_literal("10.0.0.1", true).is_ok());
        assert!(check_literal("example.com", false).is_ok(), "names are checked by the resolver");
    }
}

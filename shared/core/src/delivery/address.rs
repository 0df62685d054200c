//! Which addresses a delivery must not connect to unless the operator allows it (SSRF).
//!
//! A webhook URL is chosen by a user of the API; without this check it could reach the host's
//! own services, the private network, or the cloud metadata endpoint that hands out credentials.
//! The adapter applies [`refusal`] to every address it is about to connect to (after DNS, so a
//! name that resolves to 127.0.0.1 is caught too) and to IP literals in URLs.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Why an address is refused, or `None` when it is a public unicast address.
pub fn refusal(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => refusal_v4(v4),
        IpAddr::V6(v6) => refusal_v6(v6),
    }
}

fn refusal_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = ip.octets();
    Some(match () {
        _ if ip == Ipv4Addr::new(169, 254, 169, 254) => "the cloud metadata address",
        _ if ip.is_unspecified() || a == 0 => "an unspecified (\"this network\") address",
        _ if ip.is_loopback() => "a loopback address",
        _ if ip.is_private() => "a private address",
        _ if ip.is_link_local() => "a link-local address",
        _ if a == 100 && (64..128).contains(&b) => "a carrier-grade NAT (shared) address",
        _ if a == 192 && b == 0 && c == 0 => "an IETF protocol assignment address",
        _ if a == 198 && (18..20).contains(&b) => "a benchmarking address",
        _ if ip.is_documentation() => "a documentation address",
        _ if ip.is_broadcast() => "the broadcast address",
        _ if ip.is_multicast() => "a multicast address",
        _ if a >= 240 => "a reserved address",
        _ => return None,
    })
}

fn refusal_v6(ip: Ipv6Addr) -> Option<&'static str> {
    let seg = ip.segments();
    // Addresses that carry an IPv4 address inside are judged by it: IPv4-mapped (::ffff:a.b.c.d),
    // IPv4-compatible (::a.b.c.d), NAT64 (64:ff9b::/96) and 6to4 (2002::/16).
    if let Some(v4) = ip.to_ipv4_mapped() {
        return refusal_v4(v4);
    }
    if seg[..6] == [0; 6] && !ip.is_loopback() && !ip.is_unspecified() {
        return refusal_v4(Ipv4Addr::new((seg[6] >> 8) as u8, seg[6] as u8, (seg[7] >> 8) as u8, seg[7] as u8));
    }
    if seg[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return refusal_v4(Ipv4Addr::new((seg[6] >> 8) as u8, seg[6] as u8, (seg[7] >> 8) as u8, seg[7] as u8));
    }
    if seg[0] == 0x2002 {
        return refusal_v4(Ipv4Addr::new((seg[1] >> 8) as u8, seg[1] as u8, (seg[2] >> 8) as u8, seg[2] as u8));
    }
    Some(match () {
        _ if ip == Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254) => "the cloud metadata address",
        _ if ip.is_unspecified() => "an unspecified address",
        _ if ip.is_loopback() => "a loopback address",
        _ if (seg[0] & 0xfe00) == 0xfc00 => "a unique-local (private) address",
        _ if (seg[0] & 0xffc0) == 0xfe80 => "a link-local address",
        _ if (seg[0] & 0xffc0) == 0xfec0 => "a site-local address",
        _ if ip.is_multicast() => "a multicast address",
        _ if seg[0] == 0x2001 && seg[1] == 0xdb8 => "a documentation address",
        _ if seg[0] == 0x0100 && seg[1..4] == [0, 0, 0] => "a discard-only address",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(s: &str) -> Option<&'static str> {
        refusal(s.parse().unwrap())
    }

    #[test]
    fn refuses_internal_addresses() {
        for (addr, why) in [
            ("127.0.0.1", "loopback"),
            ("127.8.9.10", "loopback"),
            ("10.1.2.3", "private"),
            ("172.16.0.1", "private"),
            ("172.31.255.255", "private"),
            ("192.168.1.1", "private"),
            ("169.254.169.254", "metadata"),
            ("169.254.1.1", "link-local"),
            ("100.64.0.1", "carrier-grade"),
            ("100.127.255.255", "carrier-grade"),
            ("0.0.0.0", "unspecified"),
            ("0.1.2.3", "unspecified"),
            ("255.255.255.255", "broadcast"),
            ("224.0.0.1", "multicast"),
            ("::1", "loopback"),
            ("::", "unspecified"),
            ("fd00:ec2::254", "metadata"),
            ("fd12:3456::1", "unique-local"),
            ("fc00::1", "unique-local"),
            ("fe80::1", "link-local"),
            ("ff02::1", "multicast"),
            ("::ffff:127.0.0.1", "loopback"),
            ("::ffff:169.254.169.254", "metadata"),
            ("::ffff:10.0.0.1", "private"),
            ("::127.0.0.1", "loopback"),
            ("64:ff9b::a9fe:a9fe", "metadata"),
            ("2002:7f00:1::", "loopback"),
        ] {
            let r = refused(addr);
            assert!(r.is_some_and(|r| r.contains(why)), "{addr}: {r:?}");
        }
    }

    #[test]
    fn allows_public_addresses() {
        for addr in
            ["8.8.8.8", "1.1.1.1", "172.32.0.1", "100.128.0.1", "169.255.0.1", "2606:4700::1111", "::ffff:8.8.8.8"]
        {
            assert_eq!(refused(addr), None, "{addr}");
        }
    }
}

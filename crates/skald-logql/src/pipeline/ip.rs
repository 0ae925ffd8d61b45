//! `ip("...")` matchers: a single address, a range `a-b` or a CIDR prefix, used as a
//! line filter (any address found in the line matches) or a label filter (the label
//! value is one address).

use std::net::IpAddr;

#[derive(Debug, Clone)]
pub enum IpMatcher {
    Addr(IpAddr),
    Range(IpAddr, IpAddr),
    Prefix(IpAddr, u8),
}

fn parse_addr(s: &str) -> Option<IpAddr> {
    // Go's netip.ParseAddr accepts IPv6 zones; we accept them and drop the zone.
    let s = match s.find('%') {
        Some(i) if s.contains(':') => &s[..i],
        _ => s,
    };
    s.parse::<IpAddr>().ok()
}

impl IpMatcher {
    pub fn new(pattern: &str) -> Result<IpMatcher, String> {
        let err = || format!("ip: invalid pattern: {}", skald_common::go_quote(pattern));
        if let Some(a) = parse_addr(pattern) {
            return Ok(IpMatcher::Addr(a));
        }
        if let Some((a, bits)) = pattern.split_once('/') {
            let addr: IpAddr = a.parse().map_err(|_| err())?;
            if bits.is_empty() || !bits.bytes().all(|b| b.is_ascii_digit()) || (bits.len() > 1 && bits.starts_with('0')) {
                return Err(err());
            }
            let bits: u8 = bits.parse().map_err(|_| err())?;
            let max = if addr.is_ipv4() { 32 } else { 128 };
            if bits > max {
                return Err(err());
            }
            return Ok(IpMatcher::Prefix(addr, bits));
        }
        if let Some((a, b)) = pattern.split_once('-') {
            let from: IpAddr = a.parse().map_err(|_| err())?;
            let to: IpAddr = b.parse().map_err(|_| err())?;
            if from.is_ipv4() != to.is_ipv4() || to < from {
                return Err(err());
            }
            return Ok(IpMatcher::Range(from, to));
        }
        Err(err())
    }

    pub fn contains(&self, ip: &IpAddr) -> bool {
        match self {
            IpMatcher::Addr(a) => a == ip,
            IpMatcher::Range(from, to) => from.is_ipv4() == ip.is_ipv4() && from <= ip && ip <= to,
            IpMatcher::Prefix(net, bits) => match (net, ip) {
                (IpAddr::V4(n), IpAddr::V4(i)) => {
                    let mask = if *bits == 0 { 0 } else { u32::MAX << (32 - *bits as u32) };
                    (u32::from(*n) & mask) == (u32::from(*i) & mask)
                }
                (IpAddr::V6(n), IpAddr::V6(i)) => {
                    let mask = if *bits == 0 { 0 } else { u128::MAX << (128 - *bits as u32) };
                    (u128::from(*n) & mask) == (u128::from(*i) & mask)
                }
                _ => false,
            },
        }
    }

    /// Label form: the whole value must be one address within the matcher.
    pub fn matches_value(&self, value: &str) -> bool {
        // Loki runs the same scanner as for lines over the label value.
        self.matches_line(value.as_bytes())
    }

    /// Line form: any IPv4/IPv6 address found in the line within the matcher.
    pub fn matches_line(&self, line: &[u8]) -> bool {
        const V4: &[u8] = b"0123456789.";
        const V6: &[u8] = b"0123456789abcdefABCDEF:.";
        let n = line.len();
        let mut i = 0;
        while i < n {
            let mut handled = None;
            if i + 3 < n && ipv4_hint(&line[i..i + 4]) {
                handled = Some(V4);
            } else if i + 4 < n && ipv6_hint(&line[i..i + 5]) {
                handled = Some(V6);
            }
            if let Some(charset) = handled {
                let len = line[i..].iter().take_while(|b| charset.contains(b)).count();
                if let Ok(s) = std::str::from_utf8(&line[i..i + len])
                    && let Some(ip) = parse_addr(s)
                    && self.contains(&ip)
                {
                    return true;
                }
                i += len;
            }
            i += 1;
        }
        false
    }
}

fn ipv4_hint(p: &[u8]) -> bool {
    p[0].is_ascii_digit() && (p[1] == b'.' || p[2] == b'.' || p[3] == b'.')
}

fn ipv6_hint(p: &[u8]) -> bool {
    let h = |b: u8| b.is_ascii_hexdigit();
    (p[0] == b':' && p[1] == b':' && h(p[2]))
        || (h(p[0]) && p[1] == b':')
        || (h(p[0]) && h(p[1]) && p[2] == b':')
        || (h(p[0]) && h(p[1]) && h(p[2]) && p[3] == b':')
        || (h(p[0]) && h(p[1]) && h(p[2]) && h(p[3]) && p[4] == b':')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidr_range_addr() {
        let m = IpMatcher::new("192.168.1.0/24").unwrap();
        assert!(m.matches_line(b"2024-06-01T00:46:37Z INFO [auth] login failed for user=bob ip=192.168.1.9"));
        assert!(!m.matches_line(b"login ok for user=erin ip=192.168.2.6"));
        assert!(!m.matches_line(b"token refreshed for user=bob"));
        let m = IpMatcher::new("10.0.0.1-10.0.0.5").unwrap();
        assert!(m.matches_line(b"from 10.0.0.3 to"));
        assert!(!m.matches_line(b"from 10.0.0.6 to"));
        let m = IpMatcher::new("::1").unwrap();
        assert!(m.matches_line(b"addr ::1 x"));
        let m = IpMatcher::new("2001:db8::/32").unwrap();
        assert!(m.matches_line(b"peer=2001:db8::7 ok"));
        assert!(m.matches_value("2001:db8::7"));
        assert!(IpMatcher::new("300.1.1.1").is_err());
        assert!(IpMatcher::new("1.1.1.1/33").is_err());
        assert!(IpMatcher::new("1.1.1.5-1.1.1.1").is_err());
    }
}

//! Which address space a URL's host is in, as Chromium's Local Network Access sees it (Chrome 142 and later): a
//! page served from a public origin must be granted the permission before it reaches `loopback` (this machine) or
//! `local` (a private network, `.local` names) addresses, and such fetches are marked with `targetAddressSpace`
//! so an HTTPS page may call a plain-HTTP server there.

/// The address space of a host that is not public.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressSpace {
    Loopback,
    Local,
}

impl AddressSpace {
    /// The value of `fetch()`'s `targetAddressSpace` option.
    pub const fn as_str(self) -> &'static str {
        match self {
            AddressSpace::Loopback => "loopback",
            AddressSpace::Local => "local",
        }
    }
}

/// `scheme://host:port` of a URL (the whole text when it has no path, query or fragment).
pub fn origin(url: &str) -> &str {
    let after = url.find("://").map_or(0, |i| i + 3);
    let end = url[after..]
        .find(['/', '?', '#'])
        .map_or(url.len(), |i| after + i);
    &url[..end]
}

/// The address space of `url`'s host, or `None` for a public host (or no URL).
pub fn address_space(url: &str) -> Option<AddressSpace> {
    let after = url.find("://")? + 3;
    let rest = &url[after..];
    let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
    let authority = authority.rsplit_once('@').map_or(authority, |(_, host)| host);
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default().to_ascii_lowercase(),
        None => authority
            .split(':')
            .next()
            .unwrap_or_default()
            .to_ascii_lowercase(),
    };
    if host == "localhost" || host.ends_with(".localhost") || host == "::1" {
        return Some(AddressSpace::Loopback);
    }
    if host.ends_with(".local") {
        return Some(AddressSpace::Local);
    }
    if let Ok(v4) = host.parse::<std::net::Ipv4Addr>() {
        return if v4.is_loopback() {
            Some(AddressSpace::Loopback)
        } else if v4.is_private() || v4.is_link_local() {
            Some(AddressSpace::Local)
        } else {
            None
        };
    }
    if let Ok(v6) = host.parse::<std::net::Ipv6Addr>() {
        let first = v6.segments()[0];
        // fc00::/7 (unique local) and fe80::/10 (link local).
        return ((first & 0xfe00) == 0xfc00 || (first & 0xffc0) == 0xfe80).then_some(AddressSpace::Local);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_fall_into_chromiums_address_spaces() {
        let cases = [
            ("http://127.0.0.1:8787/v1", Some(AddressSpace::Loopback)),
            ("http://localhost:11434/v1", Some(AddressSpace::Loopback)),
            ("http://c3.localhost:8000", Some(AddressSpace::Loopback)),
            ("http://[::1]:8000/v1", Some(AddressSpace::Loopback)),
            ("http://192.168.1.20:8000/v1", Some(AddressSpace::Local)),
            ("http://10.0.0.5:8000", Some(AddressSpace::Local)),
            ("http://172.20.0.2:8000", Some(AddressSpace::Local)),
            ("http://gpu-box.local:8000/v1", Some(AddressSpace::Local)),
            ("http://[fd12::1]:8000", Some(AddressSpace::Local)),
            ("https://api.openai.com/v1", None),
            ("http://8.8.8.8/v1", None),
            ("http://127.0.0.1.evil.example/v1", None),
            ("", None),
        ];
        for (url, space) in cases {
            assert_eq!(address_space(url), space, "{url}");
        }
    }
}

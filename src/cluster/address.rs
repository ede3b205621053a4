//! `df://HOST:PORT`: where the cluster's scheduler listens.

use std::fmt;

use super::error::ClusterError;

/// The scheduler of a Ballista cluster, as `--cluster df://HOST:PORT` names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterAddress {
    pub host: String,
    pub port: u16,
}

impl ClusterAddress {
    /// Parses `df://HOST:PORT` (a bare `HOST:PORT` is taken too).
    pub fn parse(text: &str) -> Result<Self, ClusterError> {
        let bad = || ClusterError::BadAddress(text.to_string());
        let rest = text.trim();
        let rest = rest
            .strip_prefix("df://")
            .unwrap_or(rest)
            .trim_end_matches('/');
        if rest.contains("://") || rest.contains('/') {
            return Err(bad());
        }
        let (host, port) = rest.rsplit_once(':').ok_or_else(bad)?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() {
            return Err(bad());
        }
        let port = port
            .parse::<u16>()
            .ok()
            .filter(|p| *p > 0)
            .ok_or_else(bad)?;
        Ok(Self {
            host: host.to_string(),
            port,
        })
    }

    /// The URL Ballista's client connects to.
    pub fn scheduler_url(&self) -> String {
        if self.host.contains(':') {
            format!("http://[{}]:{}", self.host, self.port)
        } else {
            format!("http://{}:{}", self.host, self.port)
        }
    }
}

impl fmt::Display for ClusterAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "df://[{}]:{}", self.host, self.port)
        } else {
            write!(f, "df://{}:{}", self.host, self.port)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_df_urls_and_bare_addresses() {
        let a = ClusterAddress::parse("df://127.0.0.1:50050").unwrap();
        assert_eq!((a.host.as_str(), a.port), ("127.0.0.1", 50050));
        assert_eq!(a.scheduler_url(), "http://127.0.0.1:50050");
        assert_eq!(a.to_string(), "df://127.0.0.1:50050");
        assert_eq!(ClusterAddress::parse("sched:9").unwrap().host, "sched");
        let v6 = ClusterAddress::parse("df://[::1]:7").unwrap();
        assert_eq!(v6.scheduler_url(), "http://[::1]:7");
    }

    #[test]
    fn refuses_what_is_not_host_and_port() {
        for bad in [
            "",
            "df://",
            "df://host",
            "http://h:1",
            "df://h:0",
            "df://h:x",
            "df://h:1/p",
        ] {
            assert!(ClusterAddress::parse(bad).is_err(), "{bad}");
        }
    }
}

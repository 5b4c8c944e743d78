//! Which package index pip downloads from, to name it when pip stalls: `PIP_INDEX_URL`, else `index-url` in pip's
//! configuration (its `[download]` section before `[global]`, as `pip config list` shows the merged files), else
//! PyPI, pip's default. Credentials in a URL are never shown.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::child;

/// The environment variable that overrides every configured index.
const INDEX_ENV: &str = "PIP_INDEX_URL";
/// The `pip config list` keys that set the index, the one that wins first.
const CONFIG_KEYS: [&str; 2] = ["download.index-url", "global.index-url"];
/// pip's index when nothing else is set.
const DEFAULT_INDEX: &str = "https://pypi.org/simple";
/// The longest wait for `pip config list`, which reads local files only.
const CONFIG_WAIT: Duration = Duration::from_secs(10);

/// The index `python -m pip download` will use, as a phrase for messages: a URL and where it was set.
pub(crate) fn describe(python: &str) -> String {
    if let Ok(url) = std::env::var(INDEX_ENV) {
        return format!("index {} from {INDEX_ENV}", redact(url.trim()));
    }
    match config_list(python) {
        Some(listing) => match configured(&listing) {
            Some((key, url)) => format!("index {} from pip config {key}", redact(url)),
            None => format!("index {DEFAULT_INDEX}, pip's default"),
        },
        None => "the index of your pip configuration".to_string(),
    }
}

/// The first of [`CONFIG_KEYS`] set in `pip config list`'s output (`key='value'` lines), with its value.
fn configured(listing: &str) -> Option<(&'static str, &str)> {
    CONFIG_KEYS.into_iter().find_map(|key| {
        listing.lines().find_map(|line| {
            let value = line.strip_prefix(key)?.strip_prefix('=')?;
            Some((key, value.trim().trim_matches(['\'', '"'])))
        })
    })
}

/// `python -m pip config list`'s output, or `None` when it fails or takes longer than [`CONFIG_WAIT`].
fn config_list(python: &str) -> Option<String> {
    let mut child = child::spawn(
        Command::new(python)
            .args(["-m", "pip", "config", "list"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null()),
    )
    .ok()?;
    let started = Instant::now();
    // The listing is a few lines, far below a pipe's buffer: pip never blocks on writing it.
    loop {
        match child.try_wait() {
            Ok(Some(status)) if status.success() => break,
            Ok(None) if started.elapsed() < CONFIG_WAIT => {
                std::thread::sleep(Duration::from_millis(50));
            }
            // Failed, or too slow (dropping the child kills its group).
            _ => return None,
        }
    }
    let mut listing = String::new();
    child.stdout()?.read_to_string(&mut listing).ok()?;
    Some(listing)
}

/// `url` without the user name and password it may carry (`https://user:token@host/…` → `https://***@host/…`).
fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}://***{}", &rest[at..]),
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_download_section_wins_over_global_and_quotes_are_dropped() {
        let listing = ":env:.retries='2'\nglobal.index-url='https://g.example/simple'\ndownload.index-url='https://d.example/simple'\n";
        assert_eq!(
            configured(listing),
            Some(("download.index-url", "https://d.example/simple"))
        );
        assert_eq!(
            configured("global.index-url='https://g.example/simple'\n"),
            Some(("global.index-url", "https://g.example/simple"))
        );
        assert_eq!(
            configured("global.extra-index-url='https://x.example'\n"),
            None
        );
    }

    #[test]
    fn credentials_are_not_shown() {
        assert_eq!(
            redact("https://user:s3cret@pypi.corp.example/simple"),
            "https://***@pypi.corp.example/simple"
        );
        assert_eq!(
            redact("https://pypi.org/simple?x=a@b"),
            "https://pypi.org/simple?x=a@b"
        );
        assert_eq!(redact("not a url"), "not a url");
    }
}

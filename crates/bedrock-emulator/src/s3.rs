//! Just enough S3 for the emulator: read and write objects and list a prefix on moto's S3,
//! path-style. Blocking: call it from `spawn_blocking`.
//!
//! moto answers anonymous requests to private buckets with 403 but does not verify signatures
//! (unless its auth checks are turned on), so requests carry a SigV4-shaped `Authorization`
//! header for the local stack's `testing` key without a real signature. This client is for
//! moto only; a real S3 endpoint would refuse it.

use std::io::Read;
use std::time::Duration;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

/// Largest object the emulator reads (Bedrock's own batch input limit is 1 GB per file; the
/// emulator serves tests and demos).
pub const MAX_OBJECT_BYTES: u64 = 256 * 1024 * 1024;
/// Most keys one listing returns before the emulator gives up.
const MAX_LISTED_KEYS: usize = 10_000;

/// Characters left as they are in a key segment (RFC 3986 unreserved).
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Why an S3 request failed.
#[derive(Debug, thiserror::Error)]
pub enum S3Error {
    /// The URI is not `s3://bucket/key`.
    #[error("{0} is not an S3 URI (s3://bucket/key)")]
    BadUri(String),
    /// No such object (or bucket).
    #[error("s3://{bucket}/{key} does not exist")]
    NotFound {
        /// Bucket.
        bucket: String,
        /// Key.
        key: String,
    },
    /// The object is larger than [`MAX_OBJECT_BYTES`].
    #[error("s3://{bucket}/{key} is larger than {MAX_OBJECT_BYTES} bytes")]
    TooLarge {
        /// Bucket.
        bucket: String,
        /// Key.
        key: String,
    },
    /// S3 answered an error status or could not be reached.
    #[error("S3 request {what} failed: {detail}")]
    Request {
        /// Method and URL.
        what: String,
        /// Status and body, or the transport error.
        detail: String,
    },
}

/// An S3 location: bucket and key (or key prefix).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct S3Location {
    /// Bucket name.
    pub bucket: String,
    /// Key or prefix, without a leading slash; may be empty.
    pub key: String,
}

impl S3Location {
    /// Parses `s3://bucket/key` strictly: the bucket must follow S3's bucket naming rules and the key may not
    /// hold a `.` or `..` segment, a backslash or a control character (so a URI cannot reach another bucket
    /// or object through path normalisation on the way to the S3 endpoint).
    pub fn parse(uri: &str) -> Result<S3Location, S3Error> {
        let bad = |why: &str| S3Error::BadUri(format!("{uri:?} ({why})"));
        let rest = uri
            .strip_prefix("s3://")
            .ok_or_else(|| bad("it does not start with s3://"))?;
        let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
        check_bucket_name(bucket).map_err(|why| bad(&why))?;
        if key
            .split('/')
            .any(|segment| segment == "." || segment == "..")
        {
            return Err(bad("its key has a . or .. segment"));
        }
        if key.chars().any(|c| c.is_control() || c == '\\') {
            return Err(bad("its key has a control character or a backslash"));
        }
        Ok(S3Location {
            bucket: bucket.to_owned(),
            key: key.to_owned(),
        })
    }

    /// `s3://bucket/key`.
    pub fn uri(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.key)
    }

    /// The last segment of the key (a file name).
    pub fn file_name(&self) -> &str {
        self.key.rsplit('/').next().unwrap_or(&self.key)
    }
}

/// S3's general-purpose bucket naming rules: 3 to 63 characters of lowercase letters, digits, dots and hyphens,
/// beginning and ending with a letter or digit, no two adjacent dots, not shaped like an IP address, none of the
/// reserved prefixes and suffixes.
fn check_bucket_name(bucket: &str) -> Result<(), String> {
    let bytes = bucket.as_bytes();
    let edge_ok = |b: Option<&u8>| b.is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    let why = if !(3..=63).contains(&bytes.len()) {
        "a bucket name has 3 to 63 characters"
    } else if !bytes
        .iter()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'.' || *b == b'-')
    {
        "a bucket name has only lowercase letters, digits, dots and hyphens"
    } else if !edge_ok(bytes.first()) || !edge_ok(bytes.last()) {
        "a bucket name begins and ends with a letter or digit"
    } else if bucket.contains("..") {
        "a bucket name has no two adjacent dots"
    } else if bucket.parse::<std::net::Ipv4Addr>().is_ok() {
        "a bucket name is not an IP address"
    } else if ["xn--", "sthree-", "amzn-s3-demo-"]
        .iter()
        .any(|p| bucket.starts_with(p))
        || ["-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"]
            .iter()
            .any(|s| bucket.ends_with(s))
    {
        "a bucket name has a reserved prefix or suffix"
    } else {
        return Ok(());
    };
    Err(why.to_owned())
}

/// A path-style S3 client on one endpoint.
pub struct S3 {
    endpoint: String,
    agent: ureq::Agent,
}

impl S3 {
    /// A client for `endpoint` (e.g. `http://127.0.0.1:5000`).
    pub fn new(endpoint: &str) -> S3 {
        S3 {
            endpoint: endpoint.trim_end_matches('/').to_owned(),
            agent: ureq::AgentBuilder::new()
                .timeout(Duration::from_secs(60))
                .build(),
        }
    }

    /// A request with the headers moto needs to treat it as the `testing` user's.
    fn request(&self, method: &str, url: &str) -> ureq::Request {
        let now = crate::wire::rfc3339(std::time::SystemTime::now());
        // 2024-01-02T03:04:05.678Z → 20240102T030405Z
        let stamp: String = now[..19]
            .chars()
            .filter(|c| *c != '-' && *c != ':')
            .collect();
        self.agent
            .request(method, url)
            .set("x-amz-date", &format!("{stamp}Z"))
            .set("x-amz-content-sha256", "UNSIGNED-PAYLOAD")
            .set(
                "authorization",
                &format!(
                    "AWS4-HMAC-SHA256 Credential=testing/{}/us-east-1/s3/aws4_request, SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature=0",
                    &stamp[..8]
                ),
            )
    }

    fn url(&self, bucket: &str, key: &str) -> String {
        let key: Vec<String> = key
            .split('/')
            .map(|segment| utf8_percent_encode(segment, SEGMENT).to_string())
            .collect();
        format!(
            "{}/{}/{}",
            self.endpoint,
            utf8_percent_encode(bucket, SEGMENT),
            key.join("/")
        )
    }

    /// The object's bytes, or `None` when there is no such object.
    pub fn get(&self, at: &S3Location) -> Result<Option<Vec<u8>>, S3Error> {
        let url = self.url(&at.bucket, &at.key);
        match self.request("GET", &url).call() {
            Ok(response) => {
                let mut bytes = Vec::new();
                response
                    .into_reader()
                    .take(MAX_OBJECT_BYTES + 1)
                    .read_to_end(&mut bytes)
                    .map_err(|e| S3Error::Request {
                        what: format!("GET {url}"),
                        detail: e.to_string(),
                    })?;
                if bytes.len() as u64 > MAX_OBJECT_BYTES {
                    return Err(S3Error::TooLarge {
                        bucket: at.bucket.clone(),
                        key: at.key.clone(),
                    });
                }
                Ok(Some(bytes))
            }
            Err(ureq::Error::Status(404, _)) => Ok(None),
            Err(err) => Err(request_error(format!("GET {url}"), err)),
        }
    }

    /// Writes (replaces) an object.
    pub fn put(&self, at: &S3Location, body: &[u8], content_type: &str) -> Result<(), S3Error> {
        let url = self.url(&at.bucket, &at.key);
        self.request("PUT", &url)
            .set("content-type", content_type)
            .send_bytes(body)
            .map_err(|err| request_error(format!("PUT {url}"), err))?;
        Ok(())
    }

    /// Keys under `prefix` of `bucket` (ListObjectsV2, every page), in S3's order.
    pub fn list(&self, bucket: &str, prefix: &str) -> Result<Vec<String>, S3Error> {
        let mut keys = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut url = format!(
                "{}/{}?list-type=2&prefix={}",
                self.endpoint,
                utf8_percent_encode(bucket, SEGMENT),
                utf8_percent_encode(prefix, SEGMENT)
            );
            if let Some(token) = &token {
                url.push_str("&continuation-token=");
                url.push_str(&utf8_percent_encode(token, SEGMENT).to_string());
            }
            let xml = match self.request("GET", &url).call() {
                Ok(response) => response.into_string().map_err(|e| S3Error::Request {
                    what: format!("GET {url}"),
                    detail: e.to_string(),
                })?,
                Err(ureq::Error::Status(404, _)) => {
                    return Err(S3Error::NotFound {
                        bucket: bucket.to_owned(),
                        key: prefix.to_owned(),
                    });
                }
                Err(err) => return Err(request_error(format!("GET {url}"), err)),
            };
            keys.extend(xml_values(&xml, "Key"));
            token = xml_values(&xml, "NextContinuationToken").into_iter().next();
            let truncated =
                xml_values(&xml, "IsTruncated").first().map(String::as_str) == Some("true");
            if !truncated || token.is_none() || keys.len() >= MAX_LISTED_KEYS {
                return Ok(keys);
            }
        }
    }
}

fn request_error(what: String, err: ureq::Error) -> S3Error {
    let detail = match err {
        ureq::Error::Status(status, response) => {
            let body = response.into_string().unwrap_or_default();
            format!(
                "status {status}: {}",
                body.chars().take(500).collect::<String>()
            )
        }
        transport => transport.to_string(),
    };
    S3Error::Request { what, detail }
}

/// The text of every `<tag>…</tag>` element, XML entities decoded.
fn xml_values(xml: &str, tag: &str) -> Vec<String> {
    let (open, close) = (format!("<{tag}>"), format!("</{tag}>"));
    let mut values = Vec::new();
    let mut rest = xml;
    while let Some(start) = rest.find(&open) {
        let after = &rest[start + open.len()..];
        let Some(end) = after.find(&close) else { break };
        values.push(
            after[..end]
                .replace("&lt;", "<")
                .replace("&gt;", ">")
                .replace("&quot;", "\"")
                .replace("&apos;", "'")
                .replace("&amp;", "&"),
        );
        rest = &after[end + close.len()..];
    }
    values
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_uris_and_encodes_keys() {
        let at = S3Location::parse("s3://bucket/in/my file.jsonl").unwrap();
        assert_eq!(at.bucket, "bucket");
        assert_eq!(at.key, "in/my file.jsonl");
        assert_eq!(at.file_name(), "my file.jsonl");
        assert_eq!(
            S3::new("http://h:1/").url(&at.bucket, &at.key),
            "http://h:1/bucket/in/my%20file.jsonl"
        );
        assert_eq!(S3Location::parse("s3://bkt").unwrap().key, "");
        assert!(S3Location::parse("https://b/k").is_err());
        assert!(S3Location::parse("s3:///k").is_err());
    }

    #[test]
    fn refuses_traversal_and_bad_bucket_names() {
        for uri in [
            "s3://bucket/../other/x.jsonl",
            "s3://bucket/a/./b",
            "s3://bucket/a/..",
            "s3://bucket/a\\..\\b",
            "s3://bucket/a\nb",
            "s3://Bad_Bucket/x",
            "s3://bad..bucket/x",
            "s3://ab/x",
            "s3://-bucket/x",
            "s3://192.168.1.1/x",
            "s3://xn--bucket/x",
            "s3://bucket-s3alias/x",
            "s3://../x",
        ] {
            let err = S3Location::parse(uri).unwrap_err();
            assert!(matches!(err, S3Error::BadUri(_)), "{uri}: {err}");
        }
        let ok = S3Location::parse("s3://my.bucket-1/in/a..b/x.jsonl").unwrap();
        assert_eq!(ok.key, "in/a..b/x.jsonl");
    }

    #[test]
    fn reads_listing_keys() {
        let xml = "<ListBucketResult><IsTruncated>false</IsTruncated><Contents><Key>a/x.jsonl</Key></Contents><Contents><Key>a/R&amp;D.jsonl</Key></Contents></ListBucketResult>";
        assert_eq!(xml_values(xml, "Key"), vec!["a/x.jsonl", "a/R&D.jsonl"]);
        assert_eq!(xml_values(xml, "IsTruncated"), vec!["false"]);
    }
}

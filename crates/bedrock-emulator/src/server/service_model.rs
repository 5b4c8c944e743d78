//! Every request checked against the AWS service models of the installed `botocore` (the `bedrock` and
//! `bedrock-runtime` `service-2` models, loaded through botocore's own loader, never copied into this
//! repository): required members, string lengths, patterns and enums, numeric ranges, list and map sizes, of
//! the body and of the path. A violation answers ValidationException as AWS words it.

use std::collections::HashMap;
use std::sync::OnceLock;

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use percent_encoding::percent_decode_str;
use regex::Regex;
use serde_json::Value;

use crate::wire::ApiError;

/// The environment variable naming the Python interpreter whose botocore is read (default `python3`).
pub const PYTHON_ENV: &str = "BEDROCK_EMULATOR_PYTHON";

const SERVICES: [&str; 2] = ["bedrock", "bedrock-runtime"];

/// How to install what is missing.
const INSTALL_HINT: &str = "install it with `python3 -m pip install 'moto[server]'` (botocore comes with it), or name the interpreter that has it in BEDROCK_EMULATOR_PYTHON";

/// Request bodies larger than this are refused before parsing.
const MAX_BODY_BYTES: usize = 32 << 20;

struct Operation {
    name: String,
    method: String,
    /// `requestUri` split on `/`: literal segments, or `{label}` (`{label+}` takes the rest).
    segments: Vec<String>,
    input: Option<String>,
    service: usize,
}

/// The loaded models: operations by route, shapes per service, compiled patterns.
pub struct ServiceModels {
    operations: Vec<Operation>,
    shapes: Vec<HashMap<String, Value>>,
    patterns: HashMap<String, Regex>,
    /// Patterns the `regex` crate cannot compile (Java-only syntax); they are not checked.
    pub uncompiled_patterns: Vec<String>,
}

/// The service models, loaded once per process.
pub fn models() -> Result<&'static ServiceModels, String> {
    static MODELS: OnceLock<Result<ServiceModels, String>> = OnceLock::new();
    MODELS
        .get_or_init(ServiceModels::load)
        .as_ref()
        .map_err(Clone::clone)
}

impl ServiceModels {
    fn load() -> Result<ServiceModels, String> {
        let python = std::env::var(PYTHON_ENV).unwrap_or_else(|_| "python3".to_owned());
        let script = format!(
            "import json, botocore.loaders as l; d = l.Loader(); print(json.dumps([d.load_service_model(s, 'service-2') for s in {SERVICES:?}]))"
        );
        let output = std::process::Command::new(&python)
            .args(["-c", &script])
            .output()
            .map_err(|e| format!("The Bedrock emulator validates requests against botocore's service models, but {python} could not run ({e}); {INSTALL_HINT}."))?;
        if !output.status.success() {
            return Err(format!(
                "The Bedrock emulator validates requests against botocore's service models, but {python} could not load them ({}); {INSTALL_HINT}.",
                String::from_utf8_lossy(&output.stderr).trim()
            ));
        }
        let models: Vec<Value> = serde_json::from_slice(&output.stdout)
            .map_err(|e| format!("botocore's service models are not JSON: {e}"))?;
        Self::from_models(&models)
    }

    fn from_models(models: &[Value]) -> Result<ServiceModels, String> {
        let mut operations = Vec::new();
        let mut shapes = Vec::new();
        let mut patterns = HashMap::new();
        let mut uncompiled_patterns = Vec::new();
        for (service, model) in models.iter().enumerate() {
            let ops = model["operations"]
                .as_object()
                .ok_or("a service model has no operations")?;
            for (name, op) in ops {
                let uri = op["http"]["requestUri"].as_str().unwrap_or("");
                let path = uri.split('?').next().unwrap_or("");
                operations.push(Operation {
                    name: name.clone(),
                    method: op["http"]["method"].as_str().unwrap_or("").to_owned(),
                    segments: path
                        .trim_matches('/')
                        .split('/')
                        .map(str::to_owned)
                        .collect(),
                    input: op["input"]["shape"].as_str().map(str::to_owned),
                    service,
                });
            }
            let table: HashMap<String, Value> = model["shapes"]
                .as_object()
                .ok_or("a service model has no shapes")?
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            for shape in table.values() {
                if let Some(pattern) = shape["pattern"].as_str()
                    && !patterns.contains_key(pattern)
                {
                    match Regex::new(&format!("^(?:{pattern})$")) {
                        Ok(re) => {
                            patterns.insert(pattern.to_owned(), re);
                        }
                        Err(_) => uncompiled_patterns.push(pattern.to_owned()),
                    }
                }
            }
            shapes.push(table);
        }
        Ok(ServiceModels {
            operations,
            shapes,
            patterns,
            uncompiled_patterns,
        })
    }

    /// The operation a request is for, and its path labels.
    fn route(&self, method: &str, path: &str) -> Option<(&Operation, HashMap<String, String>)> {
        let given: Vec<&str> = path.trim_matches('/').split('/').collect();
        self.operations
            .iter()
            .filter(|op| op.method == method)
            .find_map(|op| match_route(&op.segments, &given).map(|labels| (op, labels)))
    }
}

/// The labels of `given` path segments under a `requestUri` template, when they match it.
fn match_route(template: &[String], given: &[&str]) -> Option<HashMap<String, String>> {
    let mut labels = HashMap::new();
    for (i, segment) in template.iter().enumerate() {
        let label = segment.strip_prefix('{').and_then(|s| s.strip_suffix('}'));
        match label {
            Some(label) if label.ends_with('+') => {
                let rest = given.get(i..)?.join("/");
                labels.insert(label.trim_end_matches('+').to_owned(), decode(&rest));
                return Some(labels);
            }
            Some(label) => {
                let value = given.get(i).filter(|v| !v.is_empty())?;
                labels.insert(label.to_owned(), decode(value));
            }
            None if given.get(i) == Some(&segment.as_str()) => {}
            None => return None,
        }
    }
    (given.len() == template.len()).then_some(labels)
}

fn decode(text: &str) -> String {
    percent_decode_str(text).decode_utf8_lossy().into_owned()
}

/// The violations of one request (AWS's wording, without the count prefix).
pub fn violations(
    models: &ServiceModels,
    method: &str,
    path: &str,
    body: &[u8],
) -> Option<(String, Vec<String>)> {
    let (op, labels) = models.route(method, path)?;
    let shapes = &models.shapes[op.service];
    let input = shapes.get(op.input.as_deref()?)?;
    let mut errors = Vec::new();
    let members = input["members"].as_object().cloned().unwrap_or_default();
    let required: Vec<&str> = input["required"]
        .as_array()
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let has_payload = input.get("payload").is_some();
    let parsed: Value = if has_payload || body.iter().all(u8::is_ascii_whitespace) {
        Value::Object(Default::default())
    } else {
        serde_json::from_slice(body).unwrap_or(Value::Null)
    };
    for (name, member) in &members {
        let shape = member["shape"].as_str().unwrap_or("");
        let value = match member["location"].as_str() {
            Some("uri") => labels
                .get(member["locationName"].as_str().unwrap_or(name))
                .map(|v| Value::String(v.clone())),
            Some(_) => continue,
            None if has_payload => continue,
            None => parsed.get(name).filter(|v| !v.is_null()).cloned(),
        };
        match value {
            Some(value) => check(models, shapes, shape, &value, name, &mut errors),
            None if required.contains(&name.as_str()) => errors.push(format!(
                "Value null at '{name}' failed to satisfy constraint: Member must not be null"
            )),
            None => {}
        }
    }
    Some((op.name.clone(), errors))
}

fn shown(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn check(
    models: &ServiceModels,
    shapes: &HashMap<String, Value>,
    shape_name: &str,
    value: &Value,
    at: &str,
    errors: &mut Vec<String>,
) {
    let Some(shape) = shapes.get(shape_name) else {
        return;
    };
    let mut fail = |constraint: String| {
        errors.push(format!(
            "Value '{}' at '{at}' failed to satisfy constraint: {constraint}",
            shown(value)
        ));
    };
    let (min, max) = (shape["min"].as_f64(), shape["max"].as_f64());
    match shape["type"].as_str().unwrap_or("") {
        "string" => {
            let Some(text) = value.as_str() else {
                return fail("Member must be a string".into());
            };
            if let Some(allowed) = shape["enum"].as_array() {
                if !allowed.iter().any(|a| a.as_str() == Some(text)) {
                    let set: Vec<&str> = allowed.iter().filter_map(Value::as_str).collect();
                    fail(format!(
                        "Member must satisfy enum value set: [{}]",
                        set.join(", ")
                    ));
                }
                return;
            }
            let length = text.chars().count() as f64;
            if let Some(min) = min.filter(|m| length < *m) {
                fail(format!(
                    "Member must have length greater than or equal to {min}"
                ));
            }
            if let Some(max) = max.filter(|m| length > *m) {
                fail(format!(
                    "Member must have length less than or equal to {max}"
                ));
            }
            if let Some(pattern) = shape["pattern"].as_str()
                && let Some(re) = models.patterns.get(pattern)
                && !re.is_match(text)
            {
                fail(format!(
                    "Member must satisfy regular expression pattern: {pattern}"
                ));
            }
        }
        "integer" | "long" | "float" | "double" => {
            let Some(number) = value.as_f64() else {
                return fail("Member must be a number".into());
            };
            if let Some(min) = min.filter(|m| number < *m) {
                fail(format!(
                    "Member must have value greater than or equal to {min}"
                ));
            }
            if let Some(max) = max.filter(|m| number > *m) {
                fail(format!(
                    "Member must have value less than or equal to {max}"
                ));
            }
        }
        "list" => {
            let Some(items) = value.as_array() else {
                return fail("Member must be a list".into());
            };
            let n = items.len() as f64;
            if let Some(min) = min.filter(|m| n < *m) {
                fail(format!(
                    "Member must have length greater than or equal to {min}"
                ));
            }
            if let Some(max) = max.filter(|m| n > *m) {
                fail(format!(
                    "Member must have length less than or equal to {max}"
                ));
            }
            let member = shape["member"]["shape"].as_str().unwrap_or("");
            for (i, item) in items.iter().enumerate() {
                check(
                    models,
                    shapes,
                    member,
                    item,
                    &format!("{at}.{}.member", i + 1),
                    errors,
                );
            }
        }
        "map" => {
            let Some(entries) = value.as_object() else {
                return fail("Member must be a map".into());
            };
            let n = entries.len() as f64;
            if let Some(max) = max.filter(|m| n > *m) {
                fail(format!(
                    "Member must have length less than or equal to {max}"
                ));
            }
            let (key, val) = (
                shape["key"]["shape"].as_str().unwrap_or(""),
                shape["value"]["shape"].as_str().unwrap_or(""),
            );
            for (k, v) in entries {
                check(
                    models,
                    shapes,
                    key,
                    &Value::String(k.clone()),
                    &format!("{at}.{k}.key"),
                    errors,
                );
                check(models, shapes, val, v, &format!("{at}.{k}.value"), errors);
            }
        }
        "structure" => {
            let Some(object) = value.as_object() else {
                return fail("Member must be a structure".into());
            };
            let members = shape["members"].as_object();
            if let Some(required) = shape["required"].as_array() {
                for name in required.iter().filter_map(Value::as_str) {
                    if object.get(name).is_none_or(Value::is_null) {
                        errors.push(format!(
                            "Value null at '{at}.{name}' failed to satisfy constraint: Member must not be null"
                        ));
                    }
                }
            }
            for (name, v) in object {
                if let Some(member) = members.and_then(|m| m.get(name)) {
                    let inner = member["shape"].as_str().unwrap_or("");
                    check(models, shapes, inner, v, &format!("{at}.{name}"), errors);
                }
            }
        }
        _ => {}
    }
}

/// Middleware: refuses a request that violates its operation's input shape.
pub async fn validate(request: Request, next: Next) -> Response {
    // Never a lenient mode: without the service models nothing is served (Emulator::start refuses to start).
    let models = match models() {
        Ok(models) => models,
        Err(why) => return ApiError::internal(why).into_response(),
    };
    let method = request.method().as_str().to_owned();
    let path = request.uri().path().to_owned();
    let (parts, body) = request.into_parts();
    let bytes = match axum::body::to_bytes(body, MAX_BODY_BYTES).await {
        Ok(bytes) => bytes,
        Err(_) => {
            return ApiError::validation(format!(
                "The request body is larger than {MAX_BODY_BYTES} bytes."
            ))
            .into_response();
        }
    };
    if let Some((operation, errors)) = violations(models, &method, &path, &bytes)
        && !errors.is_empty()
    {
        tracing::debug!(operation, ?errors, "request refused by the service model");
        let count = errors.len();
        let noun = if count == 1 { "error" } else { "errors" };
        return ApiError::validation(format!(
            "{count} validation {noun} detected: {}",
            errors.join("; ")
        ))
        .into_response();
    }
    next.run(Request::from_parts(parts, axum::body::Body::from(bytes)))
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_request(method: &str, path: &str, body: &str) -> Vec<String> {
        violations(models().unwrap(), method, path, body.as_bytes())
            .unwrap()
            .1
    }

    #[test]
    fn loads_botocore_and_checks_names_lengths_and_enums() {
        let models = models().expect("botocore (moto[server]) is installed");
        assert!(models.operations.iter().any(|o| o.name == "InvokeModel"));
        let errors = check_request(
            "POST",
            "/model-customization/custom-model-deployments",
            r#"{"modelDeploymentName": "my.deployment", "modelArn": "arn:aws:bedrock:us-east-1:123456789012:custom-model/amazon.nova-micro-v1:0:128k/abcdefghijkl"}"#,
        );
        assert!(
            errors
                .iter()
                .any(|e| e.contains("'modelDeploymentName'") && e.contains("pattern")),
            "{errors:?}"
        );
        let name = "j".repeat(64);
        let errors = check_request(
            "POST",
            "/model-customization-jobs",
            &format!(r#"{{"jobName": "{name}", "customizationType": "FINE_TUNE"}}"#),
        );
        assert!(
            errors
                .iter()
                .any(|e| e.contains("less than or equal to 63")),
            "{errors:?}"
        );
        assert!(
            errors.iter().any(|e| e.contains("enum value set")),
            "{errors:?}"
        );
        assert!(
            errors
                .iter()
                .any(|e| e.contains("'roleArn'") && e.contains("not be null")),
            "{errors:?}"
        );
        let errors = check_request("POST", "/model/amazon.nova-micro-v1%3A0/invoke", "{}");
        assert!(errors.is_empty(), "{errors:?}");
        let errors = check_request("GET", "/foundation-models/amazon.nova-micro-v1:0:128k", "");
        assert!(errors.is_empty(), "{errors:?}");
    }
}

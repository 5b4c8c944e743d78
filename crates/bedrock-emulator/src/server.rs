//! HTTP routes (the Bedrock control plane, the Bedrock runtime and the `/_emulator/` test
//! endpoints on one port) and the [`Emulator`] handle that runs them.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

mod foundation;
mod loopback;
mod requests;
mod s3_backed;
mod service_model;

pub use requests::RequestRecord;

use crate::config::EmulatorConfig;
use crate::families::token_count;
use crate::runtime;
use crate::store::{EmulatorState, Store};
use crate::wire::{self, ApiError};

/// State shared by all handlers.
struct Shared {
    store: Mutex<Store>,
    requests: requests::RequestLog,
}

impl Shared {
    fn store(&self) -> MutexGuard<'_, Store> {
        // A handler that panicked mid-update leaves nothing half-written that matters for a
        // test double; keep serving.
        self.store
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

type AppState = Arc<Shared>;

/// The emulator's routes, for embedding in another server (its test endpoints then take a loopback `Host`
/// with any port).
///
/// Refuses (an error saying what to set) a config that neither names an IAM endpoint nor skips role checks.
pub fn router(config: EmulatorConfig) -> std::io::Result<Router> {
    check_roles_config(&config)?;
    Ok(build(config, None).0)
}

/// The emulator never silently accepts any role: it asks IAM, or the config opts out, loudly.
fn check_roles_config(config: &EmulatorConfig) -> std::io::Result<()> {
    match config.role_checks() {
        Ok(Some(_)) => Ok(()),
        Ok(None) => {
            tracing::warn!(
                "skip_role_checks: the emulator accepts any roleArn without asking IAM; Amazon Bedrock refuses a role \
                 that does not exist or does not trust bedrock.amazonaws.com for the job"
            );
            Ok(())
        }
        Err(why) => Err(std::io::Error::other(why)),
    }
}

fn build(config: EmulatorConfig, port: Option<u16>) -> (Router, AppState) {
    for id in &config.allow_end_of_life {
        tracing::warn!(
            model = %id,
            "serving an end-of-life model (allow_end_of_life): Amazon Bedrock refuses it"
        );
    }
    let shared = Arc::new(Shared {
        store: Mutex::new(Store::new(config)),
        requests: Default::default(),
    });
    let test_endpoints = Router::new()
        .route("/_emulator/state", get(get_state))
        .route("/_emulator/config", get(get_config).post(post_config))
        .route("/_emulator/reset", post(post_reset))
        .route("/_emulator/requests", get(get_requests))
        .with_state(shared.clone())
        .layer(axum::middleware::from_fn_with_state(
            loopback::BoundPort(port),
            loopback::require_loopback,
        ));
    let api = Router::new()
        .route("/foundation-models", get(list_foundation_models))
        .route("/foundation-models/{id}", get(get_foundation_model))
        .route(
            "/model-customization-jobs",
            post(s3_backed::create_job).get(list_jobs),
        )
        .route("/model-customization-jobs/{id}", get(get_job))
        .route("/model-customization-jobs/{id}/stop", post(stop_job))
        .route("/custom-models", get(list_custom_models))
        .route(
            "/custom-models/{id}",
            get(get_custom_model).delete(delete_custom_model),
        )
        .route("/provisioned-model-throughput", post(create_pt))
        .route(
            "/provisioned-model-throughput/{id}",
            get(get_pt).delete(delete_pt),
        )
        .route("/provisioned-model-throughputs", get(list_pts))
        .route(
            "/model-customization/custom-model-deployments",
            post(create_deployment).get(list_deployments),
        )
        .route(
            "/model-customization/custom-model-deployments/{id}",
            get(get_deployment).delete(delete_deployment),
        )
        .route("/model-invocation-job", post(s3_backed::create_batch_job))
        .route("/model-invocation-job/{id}", get(get_batch_job))
        .route("/model-invocation-job/{id}/stop", post(stop_batch_job))
        .route("/model-invocation-jobs", get(list_batch_jobs))
        .route("/model/{id}/invoke", post(invoke_model))
        .route("/model/{id}/converse", post(converse))
        .fallback(unknown_operation)
        .with_state(shared.clone())
        .layer(axum::middleware::from_fn(service_model::validate))
        .layer(axum::middleware::from_fn_with_state(
            shared.requests.clone(),
            requests::record,
        ));
    (test_endpoints.merge(api), shared)
}

/// A running emulator on a loopback port. Dropping it stops the server too (gracefully, in the
/// background); [`Emulator::shutdown`] waits for it.
pub struct Emulator {
    addr: SocketAddr,
    shared: AppState,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl Emulator {
    /// Binds `127.0.0.1:0` and serves on the current tokio runtime.
    pub async fn start(config: EmulatorConfig) -> std::io::Result<Emulator> {
        Self::start_on(SocketAddr::from(([127, 0, 0, 1], 0)), config).await
    }

    /// Like [`Emulator::start`] on a chosen address (port 0 picks a free one).
    ///
    /// Refuses to start (an error saying how to install it) when botocore's service models, which every
    /// request is validated against, cannot be loaded.
    /// Refuses to start, likewise, a config that neither names an IAM endpoint for the job roles nor skips
    /// their checks ([`EmulatorConfig::role_checks`]).
    pub async fn start_on(addr: SocketAddr, config: EmulatorConfig) -> std::io::Result<Emulator> {
        check_roles_config(&config)?;
        let models = tokio::task::spawn_blocking(service_model::models)
            .await
            .map_err(std::io::Error::other)?
            .map_err(std::io::Error::other)?;
        if !models.uncompiled_patterns.is_empty() {
            tracing::warn!(
                count = models.uncompiled_patterns.len(),
                "service-model patterns the regex crate cannot compile are not checked"
            );
        }
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let (router, shared) = build(config, Some(addr.port()));
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let serve = axum::serve(listener, router).with_graceful_shutdown(async {
                // Fires on `shutdown` and when the handle is dropped.
                let _ = stopped.await;
            });
            if let Err(err) = serve.await {
                tracing::error!("bedrock emulator server failed: {err}");
            }
        });
        Ok(Emulator {
            addr,
            shared,
            stop: Some(stop),
            task: Some(task),
        })
    }

    /// Base URL for both the `bedrock` and `bedrock-runtime` SDK clients: `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The address the emulator listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Snapshot of jobs, custom models, provisioned throughputs and call counts.
    pub fn state(&self) -> EmulatorState {
        self.shared.store().state()
    }

    /// Every Bedrock request served so far, oldest first (`GET /_emulator/requests`).
    pub fn requests(&self) -> Vec<RequestRecord> {
        self.shared
            .requests
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// The current settings (faults consumed so far are reflected, e.g. `fail_next_job`).
    pub fn config(&self) -> EmulatorConfig {
        self.shared.store().config.clone()
    }

    /// Replaces all settings, answer key included, and restarts the runtime fault counters.
    pub fn set_config(&self, config: EmulatorConfig) {
        self.shared.store().set_config(config);
    }

    /// Forgets all jobs, models, throughputs and counts; keeps the config.
    pub fn reset(&self) {
        self.shared.store().reset();
    }

    /// Stops accepting connections and waits (at most a few seconds) for the server to end.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(mut task) = self.task.take()
            && tokio::time::timeout(Duration::from_secs(5), &mut task)
                .await
                .is_err()
        {
            task.abort();
        }
    }
}

// ---- control plane ----

fn parse_body(body: &Bytes) -> Result<Value, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(json!({}));
    }
    serde_json::from_slice(body)
        .map_err(|e| ApiError::validation(format!("Malformed request body: {e}")))
}

/// Counts the call, runs `op` on the store and renders the result.
fn control(
    state: &AppState,
    operation: &str,
    status: StatusCode,
    op: impl FnOnce(&mut Store) -> Result<Value, ApiError>,
) -> Response {
    let mut store = state.store();
    store.count_call(operation);
    let result = op(&mut store);
    drop(store);
    match result {
        Ok(body) => wire::json(status, body),
        Err(err) => {
            tracing::debug!(operation, %err, "control-plane error");
            err.into_response()
        }
    }
}

async fn list_jobs(
    State(state): State<AppState>,
    Query(query): Query<BTreeMap<String, String>>,
) -> Response {
    control(&state, "ListModelCustomizationJobs", StatusCode::OK, |s| {
        s.list_jobs(&query)
    })
}

async fn get_job(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    control(&state, "GetModelCustomizationJob", StatusCode::OK, |s| {
        s.get_job(&id)
    })
}

async fn stop_job(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    control(&state, "StopModelCustomizationJob", StatusCode::OK, |s| {
        s.stop_job(&id)
    })
}

async fn list_custom_models(State(state): State<AppState>) -> Response {
    control(&state, "ListCustomModels", StatusCode::OK, |s| {
        s.list_custom_models()
    })
}

async fn get_custom_model(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    control(&state, "GetCustomModel", StatusCode::OK, |s| {
        s.get_custom_model(&id)
    })
}

async fn delete_custom_model(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    control(&state, "DeleteCustomModel", StatusCode::OK, |s| {
        s.delete_custom_model(&id)
    })
}

async fn create_pt(State(state): State<AppState>, body: Bytes) -> Response {
    control(
        &state,
        "CreateProvisionedModelThroughput",
        StatusCode::CREATED,
        |s| s.create_pt(&parse_body(&body)?),
    )
}

async fn get_pt(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    control(
        &state,
        "GetProvisionedModelThroughput",
        StatusCode::OK,
        |s| s.get_pt(&id),
    )
}

async fn delete_pt(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    control(
        &state,
        "DeleteProvisionedModelThroughput",
        StatusCode::OK,
        |s| s.delete_pt(&id),
    )
}

async fn list_pts(
    State(state): State<AppState>,
    Query(query): Query<BTreeMap<String, String>>,
) -> Response {
    control(
        &state,
        "ListProvisionedModelThroughputs",
        StatusCode::OK,
        |s| s.list_pts(&query),
    )
}

async fn create_deployment(State(state): State<AppState>, body: Bytes) -> Response {
    control(
        &state,
        "CreateCustomModelDeployment",
        StatusCode::ACCEPTED,
        |s| s.create_deployment(&parse_body(&body)?),
    )
}

async fn get_deployment(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    control(&state, "GetCustomModelDeployment", StatusCode::OK, |s| {
        s.get_deployment(&id)
    })
}

async fn delete_deployment(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    control(&state, "DeleteCustomModelDeployment", StatusCode::OK, |s| {
        s.delete_deployment(&id)
    })
}

async fn list_deployments(
    State(state): State<AppState>,
    Query(query): Query<BTreeMap<String, String>>,
) -> Response {
    control(&state, "ListCustomModelDeployments", StatusCode::OK, |s| {
        s.list_deployments(&query)
    })
}

async fn get_batch_job(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    control(&state, "GetModelInvocationJob", StatusCode::OK, |s| {
        s.get_batch_job(&id)
    })
}

async fn stop_batch_job(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    control(&state, "StopModelInvocationJob", StatusCode::OK, |s| {
        s.stop_batch_job(&id)
    })
}

async fn list_batch_jobs(
    State(state): State<AppState>,
    Query(query): Query<BTreeMap<String, String>>,
) -> Response {
    control(&state, "ListModelInvocationJobs", StatusCode::OK, |s| {
        s.list_batch_jobs(&query)
    })
}

// ---- runtime ----

/// What a runtime call needs once faults are passed and the model resolved.
struct Invocation {
    prompt: String,
    text: String,
    /// The family's response body (InvokeModel).
    response: Value,
}

/// Counts the call, applies the injected faults, resolves the model and computes the answer.
fn run_inference(
    state: &AppState,
    operation: &str,
    model_id: &str,
    body: &Bytes,
    converse: bool,
) -> Result<Invocation, ApiError> {
    let mut store = state.store();
    store.count_call(operation);
    let n = store.runtime_calls;
    store.runtime_calls += 1;
    let faults = &store.config.faults;
    if n < faults.throttle_first {
        return Err(ApiError::throttling(
            "Too many requests, please wait before trying again (injected fault).",
        ));
    }
    if let Some(k) = n
        .checked_sub(faults.throttle_first)
        .filter(|k| *k < faults.server_error_first)
    {
        return Err(if k % 2 == 0 {
            ApiError::internal("The server encountered an internal error (injected fault).")
        } else {
            ApiError::unavailable("The service is temporarily unavailable (injected fault).")
        });
    }
    let request: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::validation(format!("Malformed input request: {e}")))?;
    let model = store.resolve_runtime_model(model_id)?;
    let request_number = store.invocation_total() + 1;
    let invocation = if converse {
        let prompt = runtime::last_user_text(&request)?;
        let text = store.answer(&model, &prompt)?;
        Invocation {
            prompt,
            text,
            response: Value::Null,
        }
    } else {
        let (prompt, text, response) = store.invoke_body(&model, &request, request_number)?;
        Invocation {
            prompt,
            text,
            response,
        }
    };
    store.count_invocation(model_id);
    Ok(invocation)
}

async fn invoke_model(
    State(state): State<AppState>,
    Path(model_id): Path<String>,
    body: Bytes,
) -> Response {
    let result = run_inference(&state, "InvokeModel", &model_id, &body, false);
    match result {
        Ok(inv) => {
            let mut response = wire::json(StatusCode::OK, inv.response);
            let headers = response.headers_mut();
            for (name, count) in [
                ("X-Amzn-Bedrock-Input-Token-Count", token_count(&inv.prompt)),
                ("X-Amzn-Bedrock-Output-Token-Count", token_count(&inv.text)),
            ] {
                headers.insert(name, HeaderValue::from(count));
            }
            response
        }
        Err(err) => {
            tracing::debug!(%model_id, %err, "InvokeModel error");
            err.into_response()
        }
    }
}

async fn converse(
    State(state): State<AppState>,
    Path(model_id): Path<String>,
    body: Bytes,
) -> Response {
    let result = run_inference(&state, "Converse", &model_id, &body, true);
    match result {
        Ok(inv) => wire::json(
            StatusCode::OK,
            runtime::converse_response(&inv.prompt, &inv.text),
        ),
        Err(err) => {
            tracing::debug!(%model_id, %err, "Converse error");
            err.into_response()
        }
    }
}

async fn get_foundation_model(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    control(&state, "GetFoundationModel", StatusCode::OK, |store| {
        foundation::get(&store.config, &id)
    })
}

async fn list_foundation_models(
    State(state): State<AppState>,
    Query(query): Query<BTreeMap<String, String>>,
) -> Response {
    control(&state, "ListFoundationModels", StatusCode::OK, |store| {
        Ok(foundation::list(&store.config, &query))
    })
}

// ---- test endpoints ----

async fn get_requests(State(state): State<AppState>) -> Response {
    let log = state
        .requests
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .clone();
    wire::json(
        StatusCode::OK,
        serde_json::to_value(log).expect("request log serializes"),
    )
}

async fn get_state(State(state): State<AppState>) -> Response {
    let snapshot = state.store().state();
    wire::json(
        StatusCode::OK,
        serde_json::to_value(snapshot).expect("state serializes"),
    )
}

async fn get_config(State(state): State<AppState>) -> Response {
    let config = state.store().config.clone();
    wire::json(
        StatusCode::OK,
        serde_json::to_value(config).expect("config serializes"),
    )
}

/// The test endpoints that change the emulator take `Content-Type: application/json` only. A web page can send
/// a cross-origin `text/plain` (or form) POST without asking first, but not a JSON one: the browser's CORS
/// preflight, which the emulator does not answer, stops it. So no page the user visits can reconfigure or
/// reset the emulator.
fn require_json(headers: &HeaderMap) -> Result<(), ApiError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("");
    let essence = content_type.split(';').next().unwrap_or("").trim();
    if essence.eq_ignore_ascii_case("application/json") {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UnsupportedMediaTypeException",
            format!(
                "The emulator's test endpoints take Content-Type: application/json, not {:?}",
                content_type
            ),
        ))
    }
}

/// Replaces the config; missing keys take their defaults, except `answers`, which is kept
/// when the body has no `answers` key (so faults can be flipped without resending the key).
async fn post_config(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let parsed = require_json(&headers)
        .and_then(|()| parse_body(&body))
        .and_then(|value| {
            let has_answers = value.get("answers").is_some();
            serde_json::from_value::<EmulatorConfig>(value)
                .map(|config| (config, has_answers))
                .map_err(|e| ApiError::validation(format!("Invalid emulator config: {e}")))
        });
    match parsed {
        Ok((mut config, has_answers)) => {
            let mut store = state.store();
            if !has_answers {
                config.answers = std::mem::take(&mut store.config.answers);
            }
            // A config without s3_endpoint keeps the current one (Store::set_config).
            store.set_config(config);
            let current = serde_json::to_value(&store.config).expect("config serializes");
            wire::json(StatusCode::OK, current)
        }
        Err(err) => err.into_response(),
    }
}

async fn post_reset(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Err(err) = require_json(&headers) {
        return err.into_response();
    }
    state.store().reset();
    wire::json(StatusCode::OK, json!({}))
}

async fn unknown_operation(uri: axum::http::Uri, method: axum::http::Method) -> Response {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "UnknownOperationException",
        format!(
            "The Bedrock emulator does not implement {method} {}",
            uri.path()
        ),
    )
    .into_response()
}

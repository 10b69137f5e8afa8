//! The HTTP layer: routes, handlers, input validation and JSON errors.
//!
//! Handlers are identical for every store: they call the synchronous
//! [`SessionStore`] methods, which return owned values, and only then build
//! the response. No lock, guard or map reference is alive at any `.await`.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;
use tokio::net::TcpListener;

use super::store::{Session, SessionStore};

/// Largest request body accepted, in bytes; larger ones get 413.
pub const BODY_LIMIT: usize = 4 * 1024;
/// Longest `user` accepted, in bytes.
pub const MAX_USER_LEN: usize = 64;
/// Largest `limit` accepted by `GET /sessions`.
pub const MAX_LIST_LIMIT: u64 = 1000;
/// `limit` used by `GET /sessions` when none is given.
pub const DEFAULT_LIST_LIMIT: u64 = 100;
/// Largest magnitude of `points` at creation and of `add_points` in a PATCH.
pub const MAX_POINTS_STEP: i64 = 1_000_000_000;

/// Shared by every handler; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    store: Arc<dyn SessionStore>,
    counters: Arc<Counters>,
}

/// Process-wide counters for `/stats`. Only creates and deletes touch them,
/// so the hot read path stays free of shared writes.
struct Counters {
    next_id: AtomicU64,
    deleted: AtomicU64,
    started: Instant,
}

impl AppState {
    /// State around a store; session ids start at 1.
    pub fn new(store: Arc<dyn SessionStore>) -> Self {
        AppState {
            store,
            counters: Arc::new(Counters {
                next_id: AtomicU64::new(1),
                deleted: AtomicU64::new(0),
                started: Instant::now(),
            }),
        }
    }

    /// Creates a session with a fresh id, exactly as `POST /sessions` does.
    /// Ids are handed out in order: 1, 2, 3, ...
    pub fn create(&self, user: String, points: i64) -> Session {
        // Relaxed: the counter only has to hand out distinct values; the
        // session itself is published by the store.
        let id = self.counters.next_id.fetch_add(1, Ordering::Relaxed);
        let now = now_ms();
        let s = Session {
            id,
            user,
            points,
            version: 1,
            created_ms: now,
            updated_ms: now,
        };
        self.store.insert(s.clone());
        s
    }

    /// Creates `n` sessions (users `prefill-<i>`), as the load test expects.
    pub fn prefill(&self, n: u64) {
        for i in 0..n {
            self.create(format!("prefill-{i}"), 0);
        }
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// The service's routes, with the body limit and JSON fallbacks installed.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/sessions", get(list_sessions).post(create_session))
        .route(
            "/sessions/{id}",
            get(get_session).patch(patch_session).delete(delete_session),
        )
        .route("/stats", get(stats))
        .fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, "no such route") })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method not allowed on this route",
            )
        })
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(state)
}

/// Serves `state` on `listener` until `shutdown` completes, then finishes the
/// requests in flight and returns.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
}

// ---------------------------------------------------------------------------
// Errors: every failure is a 4xx with `{"error": {"status": .., "message": ..}}`.

/// An error response with a JSON body.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    message: String,
}

impl ApiError {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
        }
    }
    fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }
    fn unknown_session(id: u64) -> Self {
        Self::new(StatusCode::NOT_FOUND, format!("no session with id {id}"))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({
            "error": { "status": self.status.as_u16(), "message": self.message }
        });
        (self.status, Json(body)).into_response()
    }
}

impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> Self {
        // Covers a missing content type (415), malformed JSON (400), a valid
        // document of the wrong shape (422) and an oversized body (413).
        ApiError::new(r.status(), r.body_text())
    }
}

impl From<PathRejection> for ApiError {
    fn from(r: PathRejection) -> Self {
        ApiError::new(r.status(), r.body_text())
    }
}

impl From<QueryRejection> for ApiError {
    fn from(r: QueryRejection) -> Self {
        ApiError::new(r.status(), r.body_text())
    }
}

type ApiResult<T> = Result<T, ApiError>;

fn parse_id(raw: Result<Path<String>, PathRejection>) -> ApiResult<u64> {
    let Path(raw) = raw?;
    raw.parse::<u64>().map_err(|_| {
        let shown: String = raw.chars().take(32).collect();
        ApiError::bad_request(format!(
            "invalid session id {shown:?}: expected a decimal integer below 2^64"
        ))
    })
}

fn check_user(user: &str) -> ApiResult<()> {
    if user.is_empty() || user.len() > MAX_USER_LEN {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("user must be 1 to {MAX_USER_LEN} bytes"),
        ));
    }
    if user.chars().any(char::is_control) {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "user must not contain control characters",
        ));
    }
    Ok(())
}

fn check_points(field: &str, n: i64) -> ApiResult<()> {
    if n.unsigned_abs() > MAX_POINTS_STEP.unsigned_abs() {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("{field} must be within +/-{MAX_POINTS_STEP}"),
        ));
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Handlers.

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateBody {
    user: String,
    #[serde(default)]
    points: i64,
}

async fn create_session(
    State(state): State<AppState>,
    body: Result<Json<CreateBody>, JsonRejection>,
) -> ApiResult<(StatusCode, Json<Session>)> {
    let Json(body) = body?;
    check_user(&body.user)?;
    check_points("points", body.points)?;
    let s = state.create(body.user, body.points);
    Ok((StatusCode::CREATED, Json(s)))
}

async fn get_session(
    State(state): State<AppState>,
    id: Result<Path<String>, PathRejection>,
) -> ApiResult<Json<Session>> {
    let id = parse_id(id)?;
    state
        .store
        .get(id)
        .map(Json)
        .ok_or(ApiError::unknown_session(id))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PatchBody {
    user: Option<String>,
    add_points: Option<i64>,
}

/// A read-modify-write: `points += add_points` (saturating) and/or a new
/// `user`, with `version += 1`, applied atomically by the store.
async fn patch_session(
    State(state): State<AppState>,
    id: Result<Path<String>, PathRejection>,
    body: Result<Json<PatchBody>, JsonRejection>,
) -> ApiResult<Json<Session>> {
    let id = parse_id(id)?;
    let Json(body) = body?;
    if body.user.is_none() && body.add_points.is_none() {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "empty patch: give user and/or add_points",
        ));
    }
    if let Some(user) = &body.user {
        check_user(user)?;
    }
    let add = body.add_points.unwrap_or(0);
    check_points("add_points", add)?;
    let now = now_ms();
    let mut apply = |s: &mut Session| {
        if let Some(user) = &body.user {
            s.user.clone_from(user);
        }
        s.points = s.points.saturating_add(add);
        s.version = s.version.wrapping_add(1);
        s.updated_ms = now;
    };
    state
        .store
        .update(id, &mut apply)
        .map(Json)
        .ok_or(ApiError::unknown_session(id))
}

async fn delete_session(
    State(state): State<AppState>,
    id: Result<Path<String>, PathRejection>,
) -> ApiResult<Json<Session>> {
    let id = parse_id(id)?;
    let s = state
        .store
        .remove(id)
        .ok_or(ApiError::unknown_session(id))?;
    // Relaxed: a statistic.
    state.counters.deleted.fetch_add(1, Ordering::Relaxed);
    Ok(Json(s))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    limit: Option<u64>,
}

async fn list_sessions(
    State(state): State<AppState>,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> ApiResult<Json<serde_json::Value>> {
    let Query(query) = query?;
    let limit = query.limit.unwrap_or(DEFAULT_LIST_LIMIT);
    if !(1..=MAX_LIST_LIMIT).contains(&limit) {
        return Err(ApiError::bad_request(format!(
            "limit must be between 1 and {MAX_LIST_LIMIT}, got {limit}"
        )));
    }
    // Checked above: limit <= MAX_LIST_LIMIT fits in usize.
    let sessions = state.store.list(limit as usize);
    Ok(Json(json!({
        "limit": limit,
        "returned": sessions.len(),
        "sessions": sessions,
    })))
}

async fn stats(State(state): State<AppState>) -> Json<serde_json::Value> {
    let c = &state.counters;
    // Relaxed loads: statistics, no ordering with the store is implied.
    let created = c.next_id.load(Ordering::Relaxed).saturating_sub(1);
    Json(json!({
        "store": state.store.name(),
        "sessions": state.store.len(),
        "created": created,
        "deleted": c.deleted.load(Ordering::Relaxed),
        "uptime_ms": u64::try_from(c.started.elapsed().as_millis()).unwrap_or(u64::MAX),
    }))
}

//! End-to-end tests of `examples/session_service`: the service runs in
//! process on an ephemeral 127.0.0.1 port (one per test), and a real HTTP
//! client (ureq, blocking, from several OS threads) drives every endpoint,
//! for every store: the happy paths, the bad inputs, and a concurrent
//! create/patch/list/delete phase with a lost-update check.
// Sockets are out of Miri's reach.
#![cfg(not(miri))]

#[path = "../session_service/store.rs"]
mod store;

#[path = "../session_service/app.rs"]
mod app;

use std::collections::HashSet;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::Duration;

use serde_json::{json, Value};

use store::StoreKind;

// ---------------------------------------------------------------------------
// Harness.

/// The service on its own tokio runtime thread; stopped (gracefully) on drop.
struct Server {
    addr: SocketAddr,
    base: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<thread::JoinHandle<std::io::Result<()>>>,
}

impl Server {
    fn start(kind: StoreKind, prefill: u64) -> Server {
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let thread = thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()?;
            rt.block_on(async move {
                let state = app::AppState::new(kind.build());
                state.prefill(prefill);
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
                addr_tx
                    .send(listener.local_addr()?)
                    .expect("test thread waits for the address");
                app::serve(listener, state, async move {
                    // A dropped sender also stops the service.
                    let _ = stop_rx.await;
                })
                .await
            })
        });
        let addr = addr_rx.recv().expect("service failed to bind");
        assert!(addr.ip().is_loopback());
        Server {
            addr,
            base: format!("http://{addr}"),
            stop: Some(stop_tx),
            thread: Some(thread),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let result = t.join();
            if !thread::panicking() {
                result
                    .expect("service thread panicked")
                    .expect("service returned an error");
            }
        }
    }
}

/// A blocking HTTP client that returns 4xx/5xx as ordinary responses.
#[derive(Clone)]
struct Client {
    agent: ureq::Agent,
}

/// Status and parsed JSON body of one response.
#[derive(Debug)]
struct Reply {
    status: u16,
    body: Value,
}

impl Client {
    fn new() -> Client {
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            // A guard against a hung test, not a timing assertion.
            .timeout_global(Some(Duration::from_secs(60)))
            .build();
        Client {
            agent: config.into(),
        }
    }

    fn finish(resp: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Reply {
        let mut resp = resp.expect("transport error");
        let status = resp.status().as_u16();
        let text = resp.body_mut().read_to_string().expect("read body");
        let body = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("status {status}: body is not JSON ({e}): {text:?}"));
        Reply { status, body }
    }

    fn get(&self, url: &str) -> Reply {
        Self::finish(self.agent.get(url).call())
    }
    fn delete(&self, url: &str) -> Reply {
        Self::finish(self.agent.delete(url).call())
    }
    fn put(&self, url: &str) -> Reply {
        Self::finish(self.agent.put(url).send(""))
    }
    /// POST with a raw body and the given content type.
    fn post_raw(&self, url: &str, content_type: &str, body: &str) -> Reply {
        Self::finish(
            self.agent
                .post(url)
                .header("content-type", content_type)
                .send(body),
        )
    }
    fn patch_raw(&self, url: &str, body: &str) -> Reply {
        Self::finish(
            self.agent
                .patch(url)
                .header("content-type", "application/json")
                .send(body),
        )
    }
    fn post(&self, url: &str, body: &Value) -> Reply {
        self.post_raw(url, "application/json", &body.to_string())
    }
    fn patch(&self, url: &str, body: &Value) -> Reply {
        self.patch_raw(url, &body.to_string())
    }
}

/// Asserts a 4xx with the service's JSON error shape.
fn assert_error(r: &Reply, status: u16, needle: &str) {
    assert_eq!(r.status, status, "unexpected reply {r:?}");
    let err = &r.body["error"];
    assert_eq!(err["status"], json!(status), "error body {r:?}");
    let msg = err["message"].as_str().expect("error.message is a string");
    assert!(
        msg.to_lowercase().contains(&needle.to_lowercase()),
        "message {msg:?} lacks {needle:?}"
    );
}

fn id_of(r: &Reply) -> u64 {
    r.body["id"].as_u64().expect("session has a numeric id")
}

fn stats(c: &Client, s: &Server) -> Value {
    let r = c.get(&s.url("/stats"));
    assert_eq!(r.status, 200, "{r:?}");
    r.body
}

// ---------------------------------------------------------------------------
// The checks, each run against every store.

fn endpoints(kind: StoreKind) {
    let s = Server::start(kind, 3);
    let c = Client::new();

    let st = stats(&c, &s);
    assert_eq!(st["store"], json!(kind.to_string()));
    assert_eq!(st["sessions"], json!(3));
    assert_eq!(st["created"], json!(3));

    // Prefilled sessions are 1..=3.
    let r = c.get(&s.url("/sessions/2"));
    assert_eq!(r.status, 200);
    assert_eq!(r.body["user"], json!("prefill-1"));

    // Create.
    let r = c.post(&s.url("/sessions"), &json!({"user": "ada", "points": 7}));
    assert_eq!(r.status, 201, "{r:?}");
    let id = id_of(&r);
    assert_eq!(id, 4);
    assert_eq!(r.body["user"], json!("ada"));
    assert_eq!(r.body["points"], json!(7));
    assert_eq!(r.body["version"], json!(1));
    let created = r.body.clone();

    // Read it back.
    let r = c.get(&s.url(&format!("/sessions/{id}")));
    assert_eq!(r.status, 200);
    assert_eq!(r.body, created);

    // Patch: a read-modify-write of points, then of user.
    let r = c.patch(
        &s.url(&format!("/sessions/{id}")),
        &json!({"add_points": -10}),
    );
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body["points"], json!(-3));
    assert_eq!(r.body["version"], json!(2));
    let r = c.patch(
        &s.url(&format!("/sessions/{id}")),
        &json!({"user": "bob", "add_points": 3}),
    );
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body["user"], json!("bob"));
    assert_eq!(r.body["points"], json!(0));
    assert_eq!(r.body["version"], json!(3));
    let patched = r.body.clone();
    assert_eq!(c.get(&s.url(&format!("/sessions/{id}"))).body, patched);

    // List: all four, each exactly once, and a limit that is honoured.
    let r = c.get(&s.url("/sessions"));
    assert_eq!(r.status, 200);
    let listed = r.body["sessions"].as_array().expect("sessions array");
    let ids: HashSet<u64> = listed.iter().map(|v| v["id"].as_u64().unwrap()).collect();
    assert_eq!(ids, HashSet::from([1, 2, 3, 4]));
    assert_eq!(listed.len(), 4);
    assert_eq!(r.body["returned"], json!(4));
    assert!(listed.contains(&patched));
    let r = c.get(&s.url("/sessions?limit=2"));
    assert_eq!(r.status, 200);
    assert_eq!(r.body["sessions"].as_array().unwrap().len(), 2);
    assert_eq!(r.body["limit"], json!(2));

    // Delete returns the session; a second delete and a read are 404.
    let r = c.delete(&s.url(&format!("/sessions/{id}")));
    assert_eq!(r.status, 200);
    assert_eq!(r.body, patched);
    assert_error(
        &c.delete(&s.url(&format!("/sessions/{id}"))),
        404,
        "no session",
    );
    assert_error(
        &c.get(&s.url(&format!("/sessions/{id}"))),
        404,
        "no session",
    );

    let st = stats(&c, &s);
    assert_eq!(st["sessions"], json!(3));
    assert_eq!(st["created"], json!(4));
    assert_eq!(st["deleted"], json!(1));
}

fn bad_inputs(kind: StoreKind) {
    let s = Server::start(kind, 1);
    let c = Client::new();
    let sessions = s.url("/sessions");
    let one = s.url("/sessions/1");

    // Malformed JSON, wrong shapes, wrong content type.
    assert_error(
        &c.post_raw(&sessions, "application/json", "{\"user\":"),
        400,
        "json",
    );
    assert_error(
        &c.post_raw(&sessions, "application/json", "not json"),
        400,
        "json",
    );
    assert_error(&c.post_raw(&sessions, "application/json", ""), 400, "json");
    assert_error(
        &c.post_raw(&sessions, "text/plain", "{\"user\":\"a\"}"),
        415,
        "content-type",
    );
    assert_error(&c.post(&sessions, &json!({"points": 1})), 422, "user");
    assert_error(&c.post(&sessions, &json!({"user": 5})), 422, "user");
    assert_error(
        &c.post(&sessions, &json!({"user": "a", "admin": true})),
        422,
        "admin",
    );
    assert_error(&c.post(&sessions, &json!([1, 2])), 422, "");
    // Invalid values.
    assert_error(
        &c.post(&sessions, &json!({"user": ""})),
        422,
        "user must be",
    );
    assert_error(
        &c.post(&sessions, &json!({"user": "x".repeat(65)})),
        422,
        "user must be",
    );
    assert_error(
        &c.post(&sessions, &json!({"user": "a\u{7}b"})),
        422,
        "control",
    );
    assert_error(
        &c.post(&sessions, &json!({"user": "a", "points": i64::MIN})),
        422,
        "points",
    );
    assert_error(
        &c.post(&sessions, &json!({"user": "a", "points": 1e300})),
        422,
        "points",
    );
    assert_error(
        &c.post_raw(
            &sessions,
            "application/json",
            "{\"user\":\"a\",\"points\":99999999999999999999999}",
        ),
        422,
        "points",
    );
    // Oversized bodies: just over the limit, and well over it.
    let big = json!({"user": "a".repeat(app::BODY_LIMIT)});
    assert_error(&c.post(&sessions, &big), 413, "length limit");
    let big = json!({"user": "b".repeat(4 * app::BODY_LIMIT)});
    assert_error(&c.patch(&one, &big), 413, "length limit");

    // PATCH: empty, unknown fields, absurd steps, bad ids, unknown ids.
    assert_error(&c.patch(&one, &json!({})), 422, "empty patch");
    assert_error(&c.patch(&one, &json!({"points": 3})), 422, "points");
    assert_error(
        &c.patch(&one, &json!({"add_points": i64::MAX})),
        422,
        "add_points",
    );
    assert_error(&c.patch_raw(&one, "{\"add_points\": 1"), 400, "json");
    assert_error(
        &c.patch(&s.url("/sessions/999"), &json!({"add_points": 1})),
        404,
        "999",
    );
    assert_error(
        &c.patch(&s.url("/sessions/x"), &json!({"add_points": 1})),
        400,
        "invalid session id",
    );

    // Ids: not numbers, negative, past u64, absent.
    for bad in [
        "abc",
        "-1",
        "1.5",
        "18446744073709551616",
        "%F0%9F%A6%80",
        "0x10",
    ] {
        assert_error(
            &c.get(&s.url(&format!("/sessions/{bad}"))),
            400,
            "invalid session id",
        );
        assert_error(
            &c.delete(&s.url(&format!("/sessions/{bad}"))),
            400,
            "invalid session id",
        );
    }
    assert_error(&c.get(&s.url("/sessions/0")), 404, "no session");
    assert_error(
        &c.get(&s.url(&format!("/sessions/{}", u64::MAX))),
        404,
        "no session",
    );
    assert_error(&c.delete(&s.url("/sessions/424242")), 404, "no session");

    // Absurd query values.
    for q in ["limit=0", "limit=1001", "limit=4294967296"] {
        assert_error(
            &c.get(&s.url(&format!("/sessions?{q}"))),
            400,
            "limit must be",
        );
    }
    for q in [
        "limit=-1",
        "limit=abc",
        "limit=99999999999999999999999",
        "limit=1e3",
        "page=2",
    ] {
        assert_error(&c.get(&s.url(&format!("/sessions?{q}"))), 400, "query");
    }
    let r = c.get(&s.url("/sessions?limit=1000"));
    assert_eq!(r.status, 200);

    // Unknown routes and methods.
    assert_error(&c.get(&s.url("/nope")), 404, "no such route");
    assert_error(&c.get(&s.url("/sessions/1/extra")), 404, "no such route");
    assert_error(&c.put(&one), 405, "method not allowed");
    assert_error(&c.delete(&sessions), 405, "method not allowed");

    // Garbage on a raw connection: the connection is refused an answer or
    // closed, and the service keeps serving everyone else.
    let mut raw = TcpStream::connect(s.addr).expect("connect");
    raw.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    raw.write_all(b"\x00\x01\x02 NOT HTTP AT ALL\r\n\r\n")
        .unwrap();
    let mut sink = Vec::new();
    let _ = raw.read_to_end(&mut sink);
    if !sink.is_empty() {
        assert!(
            sink.starts_with(b"HTTP/1.1 4"),
            "{:?}",
            String::from_utf8_lossy(&sink)
        );
    }

    // Nothing above changed the store, and the service still answers.
    let st = stats(&c, &s);
    assert_eq!(st["sessions"], json!(1));
    assert_eq!(st["created"], json!(1));
    let r = c.get(&one);
    assert_eq!(r.status, 200);
    assert_eq!(r.body["version"], json!(1));
    assert_eq!(r.body["points"], json!(0));
}

fn concurrent(kind: StoreKind) {
    // Small enough for a debug build on two cores.
    const WRITERS: u64 = 4;
    const PER_WRITER: u64 = 40;
    const HOT_PATCHES: u64 = 50;
    const PREFILL: u64 = 50;

    let s = Server::start(kind, PREFILL);
    let c = Client::new();
    let hot = id_of(&c.post(&s.url("/sessions"), &json!({"user": "hot"})));

    let done = AtomicBool::new(false);
    thread::scope(|scope| {
        let done = &done;
        let s = &s;
        // A lister: every listing is well formed while others write.
        let lister = scope.spawn(move || {
            let c = Client::new();
            let mut listings = 0u64;
            // At least a few listings, even if the writers finish first.
            while listings < 5 || !done.load(Ordering::Relaxed) {
                let r = c.get(&s.url("/sessions?limit=1000"));
                assert_eq!(r.status, 200, "{r:?}");
                let list = r.body["sessions"].as_array().unwrap();
                assert_eq!(r.body["returned"].as_u64(), Some(list.len() as u64));
                let mut seen = HashSet::new();
                for v in list {
                    let id = v["id"].as_u64().unwrap();
                    assert!(seen.insert(id), "id {id} listed twice");
                    let user = v["user"].as_str().unwrap();
                    assert!(!user.is_empty());
                    assert!(v["version"].as_u64().unwrap() >= 1);
                }
                // The prefilled sessions are never deleted, so the listing
                // sees at least them (it is capped well above their count).
                assert!(list.len() as u64 >= PREFILL, "listing lost entries");
                listings += 1;
            }
            listings
        });
        let writers: Vec<_> = (0..WRITERS)
            .map(|w| {
                scope.spawn(move || {
                    let c = Client::new();
                    let mut mine = Vec::new();
                    for i in 0..PER_WRITER {
                        let user = format!("w{w}-{i}");
                        let r = c.post(&s.url("/sessions"), &json!({"user": user}));
                        assert_eq!(r.status, 201, "{r:?}");
                        mine.push((id_of(&r), user));
                    }
                    for (n, (id, user)) in mine.iter().enumerate() {
                        let r = c.patch(
                            &s.url(&format!("/sessions/{id}")),
                            &json!({"add_points": n}),
                        );
                        assert_eq!(r.status, 200, "{r:?}");
                        assert_eq!(r.body["user"], json!(user));
                        assert_eq!(r.body["points"], json!(n));
                        assert_eq!(r.body["version"], json!(2));
                    }
                    for _ in 0..HOT_PATCHES {
                        let r = c.patch(
                            &s.url(&format!("/sessions/{hot}")),
                            &json!({"add_points": 1}),
                        );
                        assert_eq!(r.status, 200, "{r:?}");
                    }
                    for (id, user) in &mine {
                        let r = c.get(&s.url(&format!("/sessions/{id}")));
                        assert_eq!(r.body["user"], json!(user));
                        let r = c.delete(&s.url(&format!("/sessions/{id}")));
                        assert_eq!(r.status, 200, "{r:?}");
                        assert_eq!(r.body["user"], json!(user));
                        assert_error(
                            &c.get(&s.url(&format!("/sessions/{id}"))),
                            404,
                            "no session",
                        );
                    }
                    mine.into_iter().map(|(id, _)| id).collect::<Vec<_>>()
                })
            })
            .collect();
        let mut all_ids = HashSet::new();
        for w in writers {
            for id in w.join().expect("writer panicked") {
                assert!(all_ids.insert(id), "id {id} handed out twice");
            }
        }
        done.store(true, Ordering::Relaxed);
        assert_eq!(all_ids.len() as u64, WRITERS * PER_WRITER);
        let listings = lister.join().expect("lister panicked");
        assert!(listings >= 5);
    });

    // No lost update on the contended session: every PATCH counted once.
    let r = c.get(&s.url(&format!("/sessions/{hot}")));
    assert_eq!(r.body["points"], json!(WRITERS * HOT_PATCHES));
    assert_eq!(r.body["version"], json!(1 + WRITERS * HOT_PATCHES));

    let st = stats(&c, &s);
    assert_eq!(st["sessions"], json!(PREFILL + 1));
    assert_eq!(st["created"], json!(PREFILL + 1 + WRITERS * PER_WRITER));
    assert_eq!(st["deleted"], json!(WRITERS * PER_WRITER));
    let r = c.get(&s.url("/sessions?limit=1000"));
    assert_eq!(r.body["returned"], json!(PREFILL + 1));
}

macro_rules! store_tests {
    ($($name:ident => $kind:expr),* $(,)?) => {$(
        mod $name {
            use super::*;
            #[test]
            fn endpoints() {
                super::endpoints($kind);
            }
            #[test]
            fn bad_inputs() {
                super::bad_inputs($kind);
            }
            #[test]
            fn concurrent() {
                super::concurrent($kind);
            }
        }
    )*};
}

store_tests! {
    mutex => StoreKind::Mutex,
    shard => StoreKind::Shard,
    atomic => StoreKind::Atomic,
}

#[test]
fn store_names_round_trip() {
    for name in ["mutex", "shard", "atomic"] {
        let kind: StoreKind = name.parse().unwrap();
        assert_eq!(kind.to_string(), name);
        assert_eq!(kind.build().name(), name);
    }
    let err = "Mutex".parse::<StoreKind>().unwrap_err();
    assert!(err.contains("unknown store"), "{err}");
}

//! The fake GitHub held to its promises: contract checks, auth, real git over
//! smart HTTP, state transitions, failure knobs, pagination.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use fixwright_testkit::github::{DeliverySeed, ViolationKind, WorkflowRunSeed};
use fixwright_testkit::{Failure, FakeGitHub};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

const OWNER: &str = "acme";
const REPO: &str = "scrapers";

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}

fn jwt_with(fake: &FakeGitHub, iat: i64, exp: i64, key_pem: &str) -> String {
    let claims = json!({ "iat": iat, "exp": exp, "iss": fake.app_id().to_string() });
    let key = EncodingKey::from_rsa_pem(key_pem.as_bytes()).expect("test key parses");
    jsonwebtoken::encode(&Header::new(Algorithm::RS256), &claims, &key).expect("jwt signs")
}

fn app_jwt(fake: &FakeGitHub) -> String {
    jwt_with(fake, now() - 60, now() + 540, fake.app_private_key_pem())
}

struct Setup {
    fake: FakeGitHub,
    http: reqwest::Client,
    installation: u64,
    token: String,
    initial: String,
}

async fn setup() -> Setup {
    let fake = FakeGitHub::start().await.expect("fake GitHub starts");
    let installation = fake.add_installation(OWNER);
    let initial = fake
        .add_repo(
            installation,
            OWNER,
            REPO,
            &[
                ("scrapers/shop.py", "PRICE = 'price'\n"),
                ("README.md", "hi\n"),
            ],
        )
        .expect("repo seeds");
    let http = reqwest::Client::new();
    let token = create_token(&fake, &http, installation).await;
    Setup {
        fake,
        http,
        installation,
        token,
        initial,
    }
}

async fn create_token(fake: &FakeGitHub, http: &reqwest::Client, installation: u64) -> String {
    let response = http
        .post(format!(
            "{}/app/installations/{installation}/access_tokens",
            fake.base_url()
        ))
        .bearer_auth(app_jwt(fake))
        .send()
        .await
        .expect("token request");
    assert_eq!(response.status(), 201);
    let body: Value = response.json().await.expect("token json");
    body["token"].as_str().expect("token string").to_string()
}

impl Setup {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.fake.base_url())
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut request = self
            .http
            .request(method, self.url(path))
            .bearer_auth(&self.token);
        if let Some(b) = body {
            request = request.json(&b);
        }
        let response = request.send().await.expect("request sent");
        let status = response.status().as_u16();
        let text = response.text().await.unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }
}

#[tokio::test]
async fn unknown_paths_and_methods_are_violations() {
    let s = setup().await;
    let (status, body) = s
        .call(
            reqwest::Method::GET,
            "/repos/acme/scrapers/no-such-thing",
            None,
        )
        .await;
    assert_eq!(status, 599);
    assert!(
        body["message"]
            .as_str()
            .unwrap_or_default()
            .contains("no operation")
    );
    let (status, _) = s
        .call(reqwest::Method::DELETE, "/repos/acme/scrapers/pulls", None)
        .await;
    assert_eq!(status, 599);
    let kinds: Vec<ViolationKind> = s.fake.take_violations().iter().map(|v| v.kind).collect();
    assert_eq!(
        kinds,
        vec![ViolationKind::UnknownPath, ViolationKind::MethodNotAllowed]
    );
}

#[tokio::test]
async fn an_invalid_request_body_is_caught_and_names_the_operation() {
    let s = setup().await;
    let (status, body) = s
        .call(
            reqwest::Method::POST,
            "/repos/acme/scrapers/pulls",
            Some(json!({ "title": 7, "base": "main" })),
        )
        .await;
    assert_eq!(status, 599);
    let message = body["message"].as_str().unwrap_or_default();
    assert!(message.contains("pulls/create"), "{message}");
    let violations = s.fake.take_violations();
    assert_eq!(violations.len(), 1);
    assert_eq!(violations[0].operation_id.as_deref(), Some("pulls/create"));
    let problems = violations[0].problems.join("\n");
    assert!(
        problems.contains("head"),
        "missing `head` must be reported: {problems}"
    );
    assert!(
        s.fake.pull_requests(OWNER, REPO).is_empty(),
        "a rejected request changes nothing"
    );

    let (status, _) = s
        .call(
            reqwest::Method::GET,
            "/repos/acme/scrapers/pulls?state=sideways",
            None,
        )
        .await;
    assert_eq!(status, 599);
    let violations = s.fake.take_violations();
    assert!(violations[0].problems[0].contains("state"));
}

#[tokio::test]
async fn violations_panic_when_the_fake_is_dropped() {
    let s = setup().await;
    let _ = s.call(reqwest::Method::GET, "/nowhere", None).await;
    let fake = s.fake;
    let outcome = std::thread::spawn(move || drop(fake)).join();
    assert!(
        outcome.is_err(),
        "dropping a fake with violations must panic"
    );
}

#[tokio::test]
async fn app_jwts_are_checked_like_github_does() {
    let s = setup().await;
    let get_app = |jwt: String| {
        let http = s.http.clone();
        let url = s.url("/app");
        async move {
            http.get(url)
                .bearer_auth(jwt)
                .send()
                .await
                .expect("sent")
                .status()
                .as_u16()
        }
    };
    assert_eq!(get_app(app_jwt(&s.fake)).await, 200);
    let key = s.fake.app_private_key_pem();
    assert_eq!(
        get_app(jwt_with(&s.fake, now() - 700, now() - 30, key)).await,
        401,
        "expired"
    );
    assert_eq!(
        get_app(jwt_with(&s.fake, now() - 60, now() + 1200, key)).await,
        401,
        "exp too far"
    );
    assert_eq!(
        get_app(jwt_with(&s.fake, now() + 300, now() + 500, key)).await,
        401,
        "iat in the future"
    );
    let other = include_str!("other_key.pem");
    assert_eq!(
        get_app(jwt_with(&s.fake, now() - 60, now() + 500, other)).await,
        401,
        "wrong key"
    );
    // An installation token is not an App JWT, and vice versa.
    assert_eq!(get_app(s.token.clone()).await, 401);
    let status = s
        .http
        .get(s.url("/repos/acme/scrapers"))
        .bearer_auth(app_jwt(&s.fake))
        .send()
        .await
        .expect("sent")
        .status();
    assert_eq!(status, 401);
    s.fake.assert_clean();
}

#[tokio::test]
async fn installation_tokens_are_counted_and_expire() {
    let s = setup().await;
    assert_eq!(s.fake.token_requests(s.installation), 1);
    let (status, repo) = s
        .call(reqwest::Method::GET, "/repos/acme/scrapers", None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(repo["default_branch"], "main");
    s.fake.set_token_ttl(Duration::from_secs(0));
    let short = create_token(&s.fake, &s.http, s.installation).await;
    assert_eq!(s.fake.token_requests(s.installation), 2);
    let status = s
        .http
        .get(s.url("/repos/acme/scrapers"))
        .bearer_auth(short)
        .send()
        .await
        .expect("sent")
        .status();
    assert_eq!(status, 401);
    // A token reaches only its own installation's repositories.
    let other = s.fake.add_installation("someone-else");
    s.fake
        .add_repo(other, "someone-else", "private", &[("a", "b")])
        .expect("seed");
    let (status, _) = s
        .call(reqwest::Method::GET, "/repos/someone-else/private", None)
        .await;
    assert_eq!(status, 404);
}

fn clone_with_token(
    url: &str,
    token: &str,
    into: &std::path::Path,
) -> Result<git2::Repository, git2::Error> {
    let token = token.to_string();
    let mut callbacks = git2::RemoteCallbacks::new();
    callbacks.credentials(move |_, _, _| git2::Cred::userpass_plaintext("x-access-token", &token));
    let mut fetch = git2::FetchOptions::new();
    fetch.remote_callbacks(callbacks);
    git2::build::RepoBuilder::new()
        .fetch_options(fetch)
        .clone(url, into)
}

fn push_with_token(repo: &git2::Repository, token: &str, refspec: &str) -> Result<(), git2::Error> {
    let token = token.to_string();
    let mut callbacks = git2::RemoteCallbacks::new();
    callbacks.credentials(move |_, _, _| git2::Cred::userpass_plaintext("x-access-token", &token));
    let mut options = git2::PushOptions::new();
    options.remote_callbacks(callbacks);
    repo.find_remote("origin")?
        .push(&[refspec], Some(&mut options))
}

fn commit_file(repo: &git2::Repository, branch: &str, path: &str, content: &str) -> git2::Oid {
    let head = repo
        .head()
        .and_then(|h| h.peel_to_commit())
        .expect("head commit");
    let blob = repo.blob(content.as_bytes()).expect("blob");
    let mut update = git2::build::TreeUpdateBuilder::new();
    update.upsert(path, blob, git2::FileMode::Blob);
    let tree = update
        .create_updated(repo, &head.tree().expect("tree"))
        .expect("tree written");
    let tree = repo.find_tree(tree).expect("tree found");
    let sig = git2::Signature::now("Dev", "dev@example.com").expect("signature");
    repo.commit(
        Some(&format!("refs/heads/{branch}")),
        &sig,
        &sig,
        "change",
        &tree,
        &[&head],
    )
    .expect("commit")
}

#[tokio::test]
async fn clone_and_push_over_smart_http_are_real_git_and_visible_via_rest() {
    let s = setup().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let url = s.fake.git_url(OWNER, REPO);
    let token = s.token.clone();
    let path = dir.path().join("clone");
    let pushed = tokio::task::spawn_blocking(move || {
        let repo = clone_with_token(&url, &token, &path).expect("clone over smart HTTP");
        let shop =
            std::fs::read_to_string(path.join("scrapers/shop.py")).expect("file checked out");
        assert_eq!(shop, "PRICE = 'price'\n");
        let oid = commit_file(&repo, "main", "scrapers/shop.py", "PRICE = 'amount'\n");
        repo.set_head("refs/heads/main").expect("head");
        push_with_token(&repo, &token, "refs/heads/main:refs/heads/fixwright/shop/1")
            .expect("push over smart HTTP");
        oid.to_string()
    })
    .await
    .expect("git thread");

    let (status, branch) = s
        .call(
            reqwest::Method::GET,
            "/repos/acme/scrapers/branches/fixwright/shop/1",
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(branch["commit"]["sha"], pushed.as_str());
    let (status, file) = s
        .call(
            reqwest::Method::GET,
            "/repos/acme/scrapers/contents/scrapers/shop.py?ref=fixwright/shop/1",
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(file["content"], "UFJJQ0UgPSAnYW1vdW50Jwo=\n");

    // A ref created through REST is visible to git.
    let (status, _) = s
        .call(
            reqwest::Method::POST,
            "/repos/acme/scrapers/git/refs",
            Some(json!({ "ref": "refs/heads/from-rest", "sha": s.initial })),
        )
        .await;
    assert_eq!(status, 201);
    let url = s.fake.git_url(OWNER, REPO);
    let token = s.token.clone();
    let path = dir.path().join("second");
    let initial = s.initial.clone();
    tokio::task::spawn_blocking(move || {
        let repo = clone_with_token(&url, &token, &path).expect("second clone");
        let remote = repo
            .find_reference("refs/remotes/origin/from-rest")
            .expect("REST-created branch fetched")
            .target()
            .map(|o| o.to_string());
        assert_eq!(remote.as_deref(), Some(initial.as_str()));
    })
    .await
    .expect("git thread");

    // Wrong or missing credentials are refused by git itself.
    let url = s.fake.git_url(OWNER, REPO);
    let path = dir.path().join("refused");
    let refused =
        tokio::task::spawn_blocking(move || clone_with_token(&url, "ghs_wrong", &path).is_err())
            .await
            .expect("git thread");
    assert!(refused);
    s.fake.assert_clean();
}

#[tokio::test]
async fn pull_request_merge_is_guarded_by_the_head_sha() {
    let s = setup().await;
    let head = s
        .fake
        .commit(
            OWNER,
            REPO,
            "fixwright/shop/7",
            &[("scrapers/shop.py", Some("PRICE = 'amount'\n"))],
            "fix",
        )
        .expect("branch commit");
    let (status, pr) = s
        .call(
            reqwest::Method::POST,
            "/repos/acme/scrapers/pulls",
            Some(json!({ "title": "Fix shop", "head": "fixwright/shop/7", "base": "main", "body": "why" })),
        )
        .await;
    assert_eq!(status, 201, "{pr}");
    assert_eq!(pr["head"]["sha"], head.as_str());
    assert_eq!(pr["user"]["login"], s.fake.bot_login());
    let number = pr["number"].as_u64().expect("number");

    let (status, listed) = s
        .call(
            reqwest::Method::GET,
            "/repos/acme/scrapers/pulls?head=acme:fixwright/shop/7&state=open",
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(listed.as_array().map(Vec::len), Some(1));

    let merge = format!("/repos/acme/scrapers/pulls/{number}/merge");
    let (status, _) = s
        .call(
            reqwest::Method::PUT,
            &merge,
            Some(json!({ "sha": s.initial, "merge_method": "squash" })),
        )
        .await;
    assert_eq!(status, 409, "a stale head SHA must not merge");
    assert_eq!(
        s.fake
            .file(OWNER, REPO, "main", "scrapers/shop.py")
            .as_deref(),
        Some("PRICE = 'price'\n")
    );

    let (status, merged) = s
        .call(
            reqwest::Method::PUT,
            &merge,
            Some(json!({ "sha": head, "merge_method": "squash" })),
        )
        .await;
    assert_eq!(status, 200, "{merged}");
    assert_eq!(merged["merged"], true);
    assert_eq!(
        s.fake.branch_sha(OWNER, REPO, "main").as_deref(),
        merged["sha"].as_str()
    );
    assert_eq!(
        s.fake
            .file(OWNER, REPO, "main", "scrapers/shop.py")
            .as_deref(),
        Some("PRICE = 'amount'\n")
    );
    let (status, _) = s
        .call(reqwest::Method::PUT, &merge, Some(json!({ "sha": head })))
        .await;
    assert_eq!(status, 405, "merging twice is refused");
    let (_, pr) = s
        .call(
            reqwest::Method::GET,
            &format!("/repos/acme/scrapers/pulls/{number}"),
            None,
        )
        .await;
    assert_eq!(pr["merged"], true);
    assert_eq!(pr["state"], "closed");
    s.fake.assert_clean();
}

#[tokio::test]
async fn failure_knobs_fail_the_next_requests_then_recover() {
    let s = setup().await;
    s.fake.fail("repos/get", Failure::ServerError(502), 2);
    s.fake.fail(
        "issues/create-comment",
        Failure::SecondaryRateLimit {
            retry_after_secs: 3,
        },
        1,
    );
    s.fake
        .fail("issues/get", Failure::RateLimited { reset_in_secs: 30 }, 1);
    s.fake
        .fail("pulls/list", Failure::Delay(Duration::from_millis(300)), 1);
    for _ in 0..2 {
        assert_eq!(
            s.call(reqwest::Method::GET, "/repos/acme/scrapers", None)
                .await
                .0,
            502
        );
    }
    assert_eq!(
        s.call(reqwest::Method::GET, "/repos/acme/scrapers", None)
            .await
            .0,
        200
    );

    let pr = s
        .fake
        .open_pull_request(OWNER, REPO, "dev", "main", "main", "human PR")
        .expect("pr");
    let response = s
        .http
        .post(s.url(&format!("/repos/acme/scrapers/issues/{pr}/comments")))
        .bearer_auth(&s.token)
        .json(&json!({ "body": "hello" }))
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), 403);
    assert_eq!(
        response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok()),
        Some("3")
    );
    assert!(
        s.fake.comments(OWNER, REPO).is_empty(),
        "a failed request changes nothing"
    );

    let response = s
        .http
        .get(s.url(&format!("/repos/acme/scrapers/issues/{pr}")))
        .bearer_auth(&s.token)
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), 429);
    let reset: i64 = response
        .headers()
        .get("x-ratelimit-reset")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("reset header");
    assert!((reset - now() - 30).abs() <= 2);

    let started = std::time::Instant::now();
    assert_eq!(
        s.call(reqwest::Method::GET, "/repos/acme/scrapers/pulls", None)
            .await
            .0,
        200
    );
    assert!(started.elapsed() >= Duration::from_millis(300));
    s.fake.fail("pulls/get", Failure::NotFound, 1);
    s.fake.fail("pulls/get", Failure::Conflict, 1);
    s.fake.fail("pulls/get", Failure::Unprocessable, 1);
    let path = format!("/repos/acme/scrapers/pulls/{pr}");
    let mut statuses = Vec::new();
    for _ in 0..4 {
        statuses.push(s.call(reqwest::Method::GET, &path, None).await.0);
    }
    assert_eq!(statuses, vec![404, 409, 422, 200]);
    assert_eq!(s.fake.request_count("pulls/get"), 4);
    s.fake.assert_clean();
}

#[tokio::test]
async fn hook_deliveries_page_by_cursor_and_redeliveries_reach_the_app() {
    let s = setup().await;
    let ids: Vec<u64> = (0..5)
        .map(|i| {
            s.fake.add_hook_delivery(DeliverySeed {
                guid: format!("guid-{i}"),
                event: "issue_comment".into(),
                action: Some("created".into()),
                status_code: if i == 2 { 502 } else { 202 },
                installation_id: Some(s.installation),
                repository_id: None,
                payload: json!({ "action": "created", "n": i }),
            })
        })
        .collect();

    let mut url = s.url("/app/hook/deliveries?per_page=2");
    let mut seen = Vec::new();
    let mut pages = 0;
    loop {
        let response = s
            .http
            .get(&url)
            .bearer_auth(app_jwt(&s.fake))
            .send()
            .await
            .expect("sent");
        assert_eq!(response.status(), 200);
        let link = response
            .headers()
            .get("link")
            .and_then(|v| v.to_str().ok())
            .map(String::from);
        let page: Vec<Value> = response.json().await.expect("json");
        pages += 1;
        seen.extend(
            page.iter()
                .filter_map(|d| d["guid"].as_str().map(String::from)),
        );
        match link.and_then(|l| {
            l.split(';')
                .next()
                .map(|u| u.trim_matches(['<', '>', ' ']).to_string())
        }) {
            Some(next) => url = next,
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, vec!["guid-4", "guid-3", "guid-2", "guid-1", "guid-0"]);

    // Wire a receiver in as the App's webhook URL and ask for the failed one again.
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let receiver = axum::Router::new().route(
        "/webhooks/github",
        axum::routing::post(
            move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
                let tx = tx.clone();
                async move {
                    let get = |n: &str| {
                        headers
                            .get(n)
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or_default()
                            .to_string()
                    };
                    let _ = tx.send((get("x-github-delivery"), get("x-hub-signature-256"), body));
                    axum::http::StatusCode::ACCEPTED
                }
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, receiver).await });
    s.fake
        .set_webhook_target(&format!("http://{addr}/webhooks/github"));

    let failed = ids[2];
    let response = s
        .http
        .post(s.url(&format!("/app/hook/deliveries/{failed}/attempts")))
        .bearer_auth(app_jwt(&s.fake))
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), 202);
    assert_eq!(s.fake.redelivery_attempts(), vec![failed]);
    let (guid, signature, body) = tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("redelivery arrives")
        .expect("channel open");
    assert_eq!(guid, "guid-2");
    use hmac::Mac;
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(s.fake.webhook_secret().as_bytes())
        .expect("hmac");
    mac.update(&body);
    assert_eq!(
        signature,
        format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
    );
    s.fake.assert_clean();
}

#[tokio::test]
async fn check_runs_keep_every_annotation_and_answers_validate() {
    let s = setup().await;
    let annotation = |i: usize| {
        json!({
            "path": "scrapers/shop.py", "start_line": i + 1, "end_line": i + 1,
            "annotation_level": "failure", "message": format!("E{i}")
        })
    };
    let first: Vec<Value> = (0..50).map(annotation).collect();
    let (status, run) = s
        .call(
            reqwest::Method::POST,
            "/repos/acme/scrapers/check-runs",
            Some(json!({
                "name": "fixwright/ruff", "head_sha": s.initial, "status": "in_progress",
                "external_id": "attempt-1",
                "output": { "title": "ruff", "summary": "50 findings", "annotations": first }
            })),
        )
        .await;
    assert_eq!(status, 201, "{run}");
    let id = run["id"].as_u64().expect("id");
    let rest: Vec<Value> = (50..70).map(annotation).collect();
    let (status, run) = s
        .call(
            reqwest::Method::PATCH,
            &format!("/repos/acme/scrapers/check-runs/{id}"),
            Some(json!({
                "conclusion": "failure",
                "output": { "title": "ruff", "summary": "70 findings", "annotations": rest }
            })),
        )
        .await;
    assert_eq!(status, 200, "{run}");
    assert_eq!(run["status"], "completed");
    let runs = s.fake.check_runs(OWNER, REPO);
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].annotations.len(), 70);
    assert_eq!(runs[0].external_id.as_deref(), Some("attempt-1"));
    assert_eq!(runs[0].writes, 2);

    // A body GitHub would refuse (annotation_level outside its enum) is a violation.
    let (status, _) = s
        .call(
            reqwest::Method::PATCH,
            &format!("/repos/acme/scrapers/check-runs/{id}"),
            Some(json!({ "output": { "title": "t", "summary": "s", "annotations": [
                { "path": "a", "start_line": 1, "end_line": 1, "annotation_level": "fatal", "message": "m" }
            ] } })),
        )
        .await;
    assert_eq!(status, 599);
    let violations = s.fake.take_violations();
    assert_eq!(violations[0].operation_id.as_deref(), Some("checks/update"));
}

#[tokio::test]
async fn git_data_and_contents_write_real_commits() {
    let s = setup().await;
    let (status, blob) = s
        .call(
            reqwest::Method::POST,
            "/repos/acme/scrapers/git/blobs",
            Some(json!({ "content": "cGFnZSA9IDEK", "encoding": "base64" })),
        )
        .await;
    assert_eq!(status, 201);
    let (_, commit) = s
        .call(
            reqwest::Method::GET,
            &format!("/repos/acme/scrapers/git/commits/{}", s.initial),
            None,
        )
        .await;
    let base_tree = commit["tree"]["sha"].as_str().expect("tree").to_string();
    let (status, tree) = s
        .call(
            reqwest::Method::POST,
            "/repos/acme/scrapers/git/trees",
            Some(json!({ "base_tree": base_tree, "tree": [
                { "path": "scrapers/page.py", "mode": "100644", "type": "blob", "sha": blob["sha"] },
                { "path": "README.md", "mode": "100644", "type": "blob", "sha": null }
            ] })),
        )
        .await;
    assert_eq!(status, 201, "{tree}");
    let (status, created) = s
        .call(
            reqwest::Method::POST,
            "/repos/acme/scrapers/git/commits",
            Some(json!({ "message": "Add page\n\nFixwright-Attempt: 9", "tree": tree["sha"], "parents": [s.initial] })),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let sha = created["sha"].as_str().expect("sha").to_string();
    let (status, _) = s
        .call(
            reqwest::Method::PATCH,
            "/repos/acme/scrapers/git/refs/heads/main",
            Some(json!({ "sha": sha, "force": false })),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        s.fake
            .file(OWNER, REPO, "main", "scrapers/page.py")
            .as_deref(),
        Some("page = 1\n")
    );
    assert_eq!(s.fake.file(OWNER, REPO, "main", "README.md"), None);
    // Moving back is not a fast forward.
    let (status, _) = s
        .call(
            reqwest::Method::PATCH,
            "/repos/acme/scrapers/git/refs/heads/main",
            Some(json!({ "sha": s.initial })),
        )
        .await;
    assert_eq!(status, 422);

    let (status, _) = s
        .call(
            reqwest::Method::PUT,
            "/repos/acme/scrapers/contents/scrapers/page.py",
            Some(json!({ "message": "stale", "content": "eA==", "sha": "0000000000000000000000000000000000000000" })),
        )
        .await;
    assert_eq!(status, 409);
    let (_, file) = s
        .call(
            reqwest::Method::GET,
            "/repos/acme/scrapers/contents/scrapers/page.py",
            None,
        )
        .await;
    let (status, put) = s
        .call(
            reqwest::Method::PUT,
            "/repos/acme/scrapers/contents/scrapers/page.py",
            Some(json!({ "message": "bump", "content": "cGFnZSA9IDIK", "sha": file["sha"] })),
        )
        .await;
    assert_eq!(status, 200, "{put}");
    assert_eq!(
        s.fake
            .file(OWNER, REPO, "main", "scrapers/page.py")
            .as_deref(),
        Some("page = 2\n")
    );
    s.fake.assert_clean();
}

#[tokio::test]
async fn comments_reactions_labels_permissions_logs_and_manifest() {
    let s = setup().await;
    let pr = s
        .fake
        .open_pull_request(OWNER, REPO, "dev", "main", "main", "human PR")
        .expect("pr");
    let comment = s
        .fake
        .add_comment(OWNER, REPO, pr, "dev", "/retry-fix")
        .expect("comment");
    let (status, _) = s
        .call(
            reqwest::Method::POST,
            &format!("/repos/acme/scrapers/issues/comments/{comment}/reactions"),
            Some(json!({ "content": "eyes" })),
        )
        .await;
    assert_eq!(status, 201);
    let (status, labels) = s
        .call(
            reqwest::Method::POST,
            &format!("/repos/acme/scrapers/issues/{pr}/labels"),
            Some(json!({ "labels": ["fixwright", "fixwright: high"] })),
        )
        .await;
    assert_eq!(status, 200, "{labels}");
    assert_eq!(labels.as_array().map(Vec::len), Some(2));
    let (status, _) = s
        .call(
            reqwest::Method::DELETE,
            &format!("/repos/acme/scrapers/issues/{pr}/labels/fixwright: high"),
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        s.fake.pull_requests(OWNER, REPO)[0].labels,
        vec!["fixwright".to_string()]
    );
    let comments = s.fake.comments(OWNER, REPO);
    assert_eq!(comments[0].reactions.len(), 1);
    assert_eq!(comments[0].reactions[0].2, "eyes");

    s.fake
        .set_permission(OWNER, REPO, "dev", "maintain")
        .expect("permission");
    let (status, perm) = s
        .call(
            reqwest::Method::GET,
            "/repos/acme/scrapers/collaborators/dev/permission",
            None,
        )
        .await;
    assert_eq!(status, 200, "{perm}");
    assert_eq!(perm["permission"], "write");
    assert_eq!(perm["role_name"], "maintain");

    let run = s
        .fake
        .add_workflow_run(
            OWNER,
            REPO,
            WorkflowRunSeed {
                name: "scrape shop".into(),
                path: ".github/workflows/shop.yml".into(),
                head_branch: "main".into(),
                head_sha: s.initial.clone(),
                event: "schedule".into(),
                status: "completed".into(),
                conclusion: Some("failure".into()),
                logs: vec![("scrape/2_run.txt".into(), "KeyError: 'price'\n".into())],
            },
        )
        .expect("run");
    let (status, got) = s
        .call(
            reqwest::Method::GET,
            &format!("/repos/acme/scrapers/actions/runs/{run}"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{got}");
    assert_eq!(got["conclusion"], "failure");
    let logs = s
        .http
        .get(s.url(&format!("/repos/acme/scrapers/actions/runs/{run}/logs")))
        .bearer_auth(&s.token)
        .send()
        .await
        .expect("sent");
    assert_eq!(logs.status(), 200, "the 302 is followed to the archive");
    let bytes = logs.bytes().await.expect("zip bytes");
    assert_eq!(&bytes[..4], b"PK\x03\x04");
    assert!(bytes.windows(17).any(|w| w == b"KeyError: 'price'"));

    let code = s.fake.issue_manifest_code();
    let response = s
        .http
        .post(s.url(&format!("/app-manifests/{code}/conversions")))
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), 201);
    let app: Value = response.json().await.expect("json");
    assert_eq!(app["id"], s.fake.app_id());
    assert!(
        app["pem"]
            .as_str()
            .unwrap_or_default()
            .contains("PRIVATE KEY")
    );
    assert_eq!(app["webhook_secret"], s.fake.webhook_secret());
    let again = s
        .http
        .post(s.url(&format!("/app-manifests/{code}/conversions")))
        .send()
        .await
        .expect("sent");
    assert_eq!(again.status(), 404, "a manifest code works once");
    s.fake.assert_clean();
}

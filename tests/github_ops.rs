//! The GitHub layer against the fake GitHub (every request checked against
//! GitHub's OpenAPI description): App auth and token caching, the retry
//! policy against each injected failure, annotations batching, the
//! sha-guarded merge, and the other operations other modules rely on.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use fixwright::github::auth::{AppClaims, AppSettings, InstallationTokens, SystemClock};
use fixwright::github::ops::checks::{
    Annotation, AnnotationLevel, CheckConclusion, CheckOutput, CheckStatus, NewCheckRun,
};
use fixwright::github::ops::git::{FileMode, TreeChange};
use fixwright::github::ops::pulls::{MergeMethod, MergeOutcome, NewPullRequest, Reaction};
use fixwright::github::retry::RecordingSleeper;
use fixwright::github::{
    AppAuth, AppId, BranchName, CommitSha, GitHubClient, InstallationId, IssueNumber,
    PullRequestNumber, RepoName, RetryPolicy,
};
use fixwright_testkit::github::WorkflowRunSeed;
use fixwright_testkit::{Failure, FakeGitHub};

struct World {
    fake: FakeGitHub,
    auth: Arc<AppAuth>,
    sleeper: Arc<RecordingSleeper>,
    installation: InstallationId,
    client: GitHubClient,
    repo: RepoName,
    main_sha: CommitSha,
}

async fn world() -> World {
    let fake = FakeGitHub::start()
        .await
        .expect("fake GitHub starts (run `bash scripts/test-setup` first)");
    let installation = fake.add_installation("acme");
    let main_sha = fake
        .add_repo(
            installation,
            "acme",
            "scrapers",
            &[
                ("scrapers/shop.py", "URL = 'https://shop.example'\n"),
                (
                    ".github/CODEOWNERS",
                    "* @acme/platform\n/scrapers/shop* @shop-team\n",
                ),
            ],
        )
        .expect("seed repository");
    let sleeper = Arc::new(RecordingSleeper::default());
    let api_base = url::Url::parse(&fake.base_url()).expect("fake base URL");
    let settings = AppSettings {
        retry: RetryPolicy::recorded(sleeper.clone()),
        ..AppSettings::new(AppId(fake.app_id()), api_base)
    };
    let auth = Arc::new(
        AppAuth::from_pem(
            settings,
            fake.app_private_key_pem().as_bytes(),
            Path::new("fake key"),
            Arc::new(SystemClock),
        )
        .expect("the fake's key is usable"),
    );
    let installation = InstallationId(installation);
    let client = auth.installation_client(installation);
    World {
        fake,
        auth,
        sleeper,
        installation,
        client,
        repo: "acme/scrapers".parse().unwrap(),
        main_sha: CommitSha(main_sha),
    }
}

fn branch(name: &str) -> BranchName {
    BranchName::from(name)
}

#[tokio::test]
async fn installation_tokens_are_cached_refreshed_before_expiry_and_forgotten() {
    let w = world().await;
    let inst = w.installation.0;
    for _ in 0..3 {
        assert_eq!(
            w.client.default_branch(&w.repo).await.unwrap(),
            branch("main")
        );
    }
    assert_eq!(
        w.fake.token_requests(inst),
        1,
        "one token serves calls until near its expiry"
    );

    w.auth.forget(w.installation);
    w.client.default_branch(&w.repo).await.unwrap();
    assert_eq!(
        w.fake.token_requests(inst),
        2,
        "a forgotten token is minted again"
    );

    // Tokens that expire inside the refresh margin (5 minutes) are replaced before use.
    w.fake.set_token_ttl(Duration::from_secs(240));
    w.auth.forget(w.installation);
    w.client.default_branch(&w.repo).await.unwrap();
    w.client.default_branch(&w.repo).await.unwrap();
    assert_eq!(w.fake.token_requests(inst), 4);
    let token = w.auth.installation_token(w.installation).await.unwrap();
    assert!(token.expires_at <= chrono::Utc::now() + chrono::TimeDelta::seconds(241));
    w.fake.assert_clean();
}

#[tokio::test]
async fn concurrent_calls_share_one_token_mint() {
    let w = world().await;
    let calls = (0..8).map(|_| {
        let (client, repo) = (w.client.clone(), w.repo.clone());
        tokio::spawn(async move { client.default_branch(&repo).await })
    });
    for call in calls.collect::<Vec<_>>() {
        assert_eq!(call.await.unwrap().unwrap(), branch("main"));
    }
    assert_eq!(w.fake.token_requests(w.installation.0), 1);
    w.fake.assert_clean();
}

#[tokio::test]
async fn app_jwt_claims_verify_with_the_public_key() {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let settings = AppSettings::new(
        AppId(4242),
        url::Url::parse("https://api.github.com").unwrap(),
    );
    let auth = AppAuth::from_key_file(
        settings,
        &fixtures.join("test-only-app-key.pem"),
        Arc::new(SystemClock),
    )
    .unwrap();
    let jwt = auth.jwt().unwrap();
    let public = std::fs::read(fixtures.join("test-only-app-key.pub.pem")).unwrap();
    let key = jsonwebtoken::DecodingKey::from_rsa_pem(&public).unwrap();
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    validation.set_issuer(&["4242"]);
    let decoded = jsonwebtoken::decode::<AppClaims>(
        secrecy::ExposeSecret::expose_secret(&jwt),
        &key,
        &validation,
    )
    .unwrap();
    let now = chrono::Utc::now().timestamp();
    assert_eq!(decoded.header.alg, jsonwebtoken::Algorithm::RS256);
    assert!(
        (now - 62..=now - 58).contains(&decoded.claims.iat),
        "iat is a minute in the past"
    );
    assert!(
        decoded.claims.exp - decoded.claims.iat <= 600,
        "exp at most 10 minutes after iat"
    );
    assert!(decoded.claims.exp > now);
}

#[tokio::test]
async fn a_bad_or_unreadable_key_fails_naming_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let settings = AppSettings::new(AppId(1), url::Url::parse("https://api.github.com").unwrap());
    let missing = dir.path().join("absent.pem");
    let err =
        AppAuth::from_key_file(settings.clone(), &missing, Arc::new(SystemClock)).unwrap_err();
    assert!(
        err.to_string().contains(&missing.display().to_string()),
        "{err}"
    );
    let garbage = dir.path().join("garbage.pem");
    std::fs::write(
        &garbage,
        "-----BEGIN RSA PRIVATE KEY-----\nnot a key\n-----END RSA PRIVATE KEY-----\n",
    )
    .unwrap();
    let err = AppAuth::from_key_file(settings, &garbage, Arc::new(SystemClock)).unwrap_err();
    assert!(
        err.to_string().contains(&garbage.display().to_string()),
        "{err}"
    );
}

#[tokio::test]
async fn server_errors_are_retried_with_backoff() {
    let w = world().await;
    w.fake.fail("git/get-ref", Failure::ServerError(502), 2);
    let sha = w.client.branch_sha(&w.repo, &branch("main")).await.unwrap();
    assert_eq!(sha, Some(w.main_sha.clone()));
    assert_eq!(w.fake.request_count("git/get-ref"), 3);
    assert_eq!(
        w.sleeper.waits(),
        [Duration::from_millis(10), Duration::from_millis(20)]
    );
    w.fake.assert_clean();
}

#[tokio::test]
async fn attempts_are_bounded() {
    let w = world().await;
    w.fake.fail("git/get-ref", Failure::ServerError(503), 10);
    let err = w
        .client
        .branch_sha(&w.repo, &branch("main"))
        .await
        .unwrap_err();
    assert_eq!(
        err.status(),
        Some(http::StatusCode::SERVICE_UNAVAILABLE),
        "{err}"
    );
    assert_eq!(w.fake.request_count("git/get-ref"), 5);
    w.fake.assert_clean();
}

#[tokio::test]
async fn secondary_rate_limits_wait_for_retry_after() {
    let w = world().await;
    w.fake.fail(
        "repos/get",
        Failure::SecondaryRateLimit {
            retry_after_secs: 7,
        },
        1,
    );
    w.client.default_branch(&w.repo).await.unwrap();
    assert_eq!(w.sleeper.waits(), [Duration::from_secs(7)]);
    assert_eq!(w.fake.request_count("repos/get"), 2);
    w.fake.assert_clean();
}

#[tokio::test]
async fn exhausted_quota_waits_until_the_reset() {
    let w = world().await;
    w.fake
        .fail("repos/get", Failure::RateLimited { reset_in_secs: 30 }, 1);
    w.client.default_branch(&w.repo).await.unwrap();
    let waits = w.sleeper.waits();
    assert_eq!(waits.len(), 1);
    assert!(
        (Duration::from_secs(29)..=Duration::from_secs(32)).contains(&waits[0]),
        "{waits:?}"
    );
    w.fake.assert_clean();
}

#[tokio::test]
async fn not_found_conflict_and_unprocessable_are_not_retried() {
    let w = world().await;
    w.fake.fail("repos/get", Failure::NotFound, 1);
    let err = w.client.default_branch(&w.repo).await.unwrap_err();
    assert!(err.is_not_found(), "{err}");
    assert_eq!(w.fake.request_count("repos/get"), 1);

    w.fake.fail("git/update-ref", Failure::Conflict, 1);
    let err = w
        .client
        .update_branch(&w.repo, &branch("main"), &w.main_sha, false)
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(http::StatusCode::CONFLICT), "{err}");
    assert_eq!(w.fake.request_count("git/update-ref"), 1);

    w.fake.fail("git/update-ref", Failure::Unprocessable, 1);
    let err = w
        .client
        .update_branch(&w.repo, &branch("main"), &w.main_sha, false)
        .await
        .unwrap_err();
    assert_eq!(
        err.status(),
        Some(http::StatusCode::UNPROCESSABLE_ENTITY),
        "{err}"
    );
    assert_eq!(w.fake.request_count("git/update-ref"), 2);
    assert!(w.sleeper.waits().is_empty());
    w.fake.assert_clean();
}

/// Commits one file change on a new branch through the git data API.
async fn commit_on_new_branch(w: &World, name: &str, content: &str) -> CommitSha {
    let base = w.client.get_commit(&w.repo, &w.main_sha).await.unwrap();
    let blob = w
        .client
        .create_blob(&w.repo, content.as_bytes())
        .await
        .unwrap();
    let change = TreeChange::Write {
        path: "scrapers/shop.py".into(),
        mode: FileMode::File,
        sha: blob,
    };
    let tree = w
        .client
        .create_tree(&w.repo, &base.tree.sha, &[change])
        .await
        .unwrap();
    let commit = w
        .client
        .create_commit(
            &w.repo,
            "Fix shop selector",
            &tree,
            std::slice::from_ref(&w.main_sha),
        )
        .await
        .unwrap();
    w.client
        .create_branch(&w.repo, &branch(name), &commit.sha)
        .await
        .unwrap();
    commit.sha
}

#[tokio::test]
async fn a_pull_request_is_created_once_even_when_the_create_fails() {
    let w = world().await;
    let head =
        commit_on_new_branch(&w, "fixwright/shop/01", "URL = 'https://shop.example/v2'\n").await;
    // Creating the same branch again is a no-op.
    w.client
        .create_branch(&w.repo, &branch("fixwright/shop/01"), &head)
        .await
        .unwrap();
    assert_eq!(
        w.fake
            .file("acme", "scrapers", "fixwright/shop/01", "scrapers/shop.py")
            .unwrap(),
        "URL = 'https://shop.example/v2'\n"
    );

    w.fake.fail("pulls/create", Failure::ServerError(502), 1);
    let new = NewPullRequest {
        title: "Fix shop scraper".into(),
        head: branch("fixwright/shop/01"),
        base: branch("main"),
        body: "Selector drift".into(),
        draft: false,
    };
    let pr = w.client.create_pull_request(&w.repo, &new).await.unwrap();
    let again = w.client.create_pull_request(&w.repo, &new).await.unwrap();
    assert_eq!(pr.number, again.number);
    assert_eq!(pr.head.sha, head);
    assert_eq!(w.fake.pull_requests("acme", "scrapers").len(), 1);
    assert_eq!(
        w.fake.request_count("pulls/create"),
        2,
        "one failed, one created; the repeat found it"
    );
    w.fake.assert_clean();
}

#[tokio::test]
async fn merge_is_guarded_by_the_head_sha() {
    let w = world().await;
    let head =
        commit_on_new_branch(&w, "fixwright/shop/02", "URL = 'https://shop.example/v3'\n").await;
    let new = NewPullRequest {
        title: "Fix".into(),
        head: branch("fixwright/shop/02"),
        base: branch("main"),
        body: String::new(),
        draft: false,
    };
    let pr = w.client.create_pull_request(&w.repo, &new).await.unwrap();
    let stale = w.main_sha.clone();
    let outcome = w
        .client
        .merge_pull_request(&w.repo, pr.number, &stale, MergeMethod::Squash, None)
        .await
        .unwrap();
    assert_eq!(outcome, MergeOutcome::HeadMoved);
    assert_eq!(
        w.fake.branch_sha("acme", "scrapers", "main").unwrap(),
        w.main_sha.0,
        "nothing merged"
    );
    assert_eq!(
        w.fake.request_count("pulls/merge"),
        1,
        "a 409 is surfaced, not retried"
    );

    // A 409 while the head is unchanged (the base moved under the merge) is
    // reported with GitHub's reason, after reading the pull request, and not repeated.
    w.fake.fail("pulls/merge", Failure::Conflict, 1);
    let outcome = w
        .client
        .merge_pull_request(&w.repo, pr.number, &head, MergeMethod::Squash, None)
        .await
        .unwrap();
    assert!(
        matches!(outcome, MergeOutcome::Conflict { .. }),
        "{outcome:?}"
    );
    assert_eq!(w.fake.request_count("pulls/merge"), 2);
    assert!(
        w.sleeper.waits().is_empty(),
        "no backoff: nothing was retried"
    );
    assert_eq!(
        w.fake.branch_sha("acme", "scrapers", "main").unwrap(),
        w.main_sha.0,
        "nothing merged"
    );

    let outcome = w
        .client
        .merge_pull_request(
            &w.repo,
            pr.number,
            &head,
            MergeMethod::Squash,
            Some("Fix shop"),
        )
        .await
        .unwrap();
    let MergeOutcome::Merged { sha } = outcome else {
        panic!("expected a merge, got {outcome:?}")
    };
    assert_eq!(
        w.fake.branch_sha("acme", "scrapers", "main").unwrap(),
        sha.0
    );
    // Asking again (a crash after the merge) reports the same merge, not an error.
    let again = w
        .client
        .merge_pull_request(&w.repo, pr.number, &head, MergeMethod::Squash, None)
        .await
        .unwrap();
    assert_eq!(again, MergeOutcome::Merged { sha });
    w.fake.assert_clean();
}

#[tokio::test]
async fn annotations_go_fifty_per_request() {
    let w = world().await;
    let annotations: Vec<Annotation> = (0..120)
        .map(|i| Annotation {
            path: "scrapers/shop.py".into(),
            start_line: 1,
            end_line: 1,
            annotation_level: AnnotationLevel::Warning,
            message: format!("finding {i}"),
            title: Some("ruff".into()),
        })
        .collect();
    let run = NewCheckRun {
        name: "fixwright/ruff".into(),
        head_sha: w.main_sha.clone(),
        external_id: "attempt-7".into(),
        status: CheckStatus::Completed,
        conclusion: Some(CheckConclusion::Failure),
        started_at: None,
        completed_at: Some(chrono::Utc::now()),
        output: Some(CheckOutput {
            title: "120 findings".into(),
            summary: "ruff".into(),
            text: None,
            annotations,
        }),
    };
    let id = w.client.create_check_run(&w.repo, &run).await.unwrap();
    assert_eq!(w.fake.request_count("checks/create"), 1);
    assert_eq!(w.fake.request_count("checks/update"), 2);
    let runs = w.fake.check_runs("acme", "scrapers");
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].annotations.len(), 120);
    assert_eq!(runs[0].external_id.as_deref(), Some("attempt-7"));
    // A repeated create (a resumed attempt) finds the run instead of making another.
    assert_eq!(w.client.create_check_run(&w.repo, &run).await.unwrap(), id);
    assert_eq!(w.fake.check_runs("acme", "scrapers").len(), 1);
    w.fake.assert_clean();
}

/// A completed, successful check run on `w`'s main commit, put straight into the
/// fake's world (no request); returns its id.
fn seed_check_run(w: &World, name: &str, external_id: &str) -> u64 {
    let (owner, repo) = (w.repo.owner(), w.repo.name());
    w.fake.world(|world| {
        let id = world.next_id();
        let run = fixwright_testkit::github::CheckRun {
            id,
            name: name.into(),
            head_sha: w.main_sha.0.clone(),
            status: "completed".into(),
            conclusion: Some("success".into()),
            external_id: Some(external_id.into()),
            details_url: None,
            title: None,
            summary: None,
            text: None,
            annotations: Vec::new(),
            started_at: chrono::Utc::now(),
            completed_at: Some(chrono::Utc::now()),
            writes: 1,
        };
        world
            .repo_mut(owner, repo)
            .expect("the seeded repository")
            .check_runs
            .insert(id, run);
        id
    })
}

#[tokio::test]
async fn query_values_reach_github_as_written() {
    let w = world().await;
    // `&` would end the value and `+` would read as a space, each finding the
    // wrong run.
    for name in ["lint & test+fast", "lint ", "lint  test fast"] {
        let run = NewCheckRun {
            name: name.into(),
            head_sha: w.main_sha.clone(),
            external_id: format!("attempt-{}", name.len()),
            status: CheckStatus::Completed,
            conclusion: Some(CheckConclusion::Success),
            started_at: None,
            completed_at: Some(chrono::Utc::now()),
            output: None,
        };
        w.client.create_check_run(&w.repo, &run).await.unwrap();
    }
    let runs = w
        .client
        .list_check_runs(&w.repo, &w.main_sha, Some("lint & test+fast"))
        .await
        .unwrap();
    let names: Vec<&str> = runs.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["lint & test+fast"]);

    // The filter also survives the next page's link: 100 more runs of that name.
    for i in 0..100 {
        seed_check_run(&w, "lint & test+fast", &format!("seeded-{i}"));
    }
    let pages_before = w.fake.request_count("checks/list-for-ref");
    let runs = w
        .client
        .list_check_runs(&w.repo, &w.main_sha, Some("lint & test+fast"))
        .await
        .unwrap();
    assert_eq!(runs.len(), 101);
    assert!(runs.iter().all(|r| r.name == "lint & test+fast"));
    assert_eq!(
        w.fake.request_count("checks/list-for-ref") - pages_before,
        2
    );
}

#[tokio::test]
async fn an_annotation_batch_is_not_posted_twice_after_a_server_error() {
    let w = world().await;
    let annotations: Vec<Annotation> = (0..60)
        .map(|i| Annotation {
            path: "scrapers/shop.py".into(),
            start_line: 2,
            end_line: 2,
            annotation_level: AnnotationLevel::Failure,
            message: format!("error {i}"),
            title: None,
        })
        .collect();
    let run = NewCheckRun {
        name: "fixwright/mypy".into(),
        head_sha: w.main_sha.clone(),
        external_id: "attempt-8".into(),
        status: CheckStatus::Completed,
        conclusion: Some(CheckConclusion::Failure),
        started_at: None,
        completed_at: None,
        output: Some(CheckOutput {
            title: "60".into(),
            summary: "mypy".into(),
            text: Some("details".into()),
            annotations,
        }),
    };
    w.fake.fail("checks/update", Failure::ServerError(500), 1);
    w.client.create_check_run(&w.repo, &run).await.unwrap();
    assert_eq!(
        w.fake.check_runs("acme", "scrapers")[0].annotations.len(),
        60
    );
    w.fake.assert_clean();
}

#[tokio::test]
async fn conversation_labels_permissions_contents_and_codeowners() {
    let w = world().await;
    let number = w
        .fake
        .open_pull_request("acme", "scrapers", "alice", "main", "main", "A human PR")
        .unwrap();
    let issue = IssueNumber(number);
    w.client
        .ensure_label(&w.repo, "fixwright: high", "#0e8a16", "Fixwright is sure")
        .await
        .unwrap();
    w.client
        .ensure_label(&w.repo, "fixwright: high", "#0e8a16", "Fixwright is sure")
        .await
        .unwrap();
    let labels = vec!["fixwright".to_owned(), "fixwright: high".to_owned()];
    w.client.add_labels(&w.repo, issue, &labels).await.unwrap();
    w.client
        .remove_label(&w.repo, issue, "fixwright: high")
        .await
        .unwrap();
    w.client
        .remove_label(&w.repo, issue, "fixwright: high")
        .await
        .unwrap();

    w.fake
        .fail("issues/create-comment", Failure::ServerError(502), 1);
    let comment = w
        .client
        .create_comment(&w.repo, issue, "Working on it.")
        .await
        .unwrap();
    w.client
        .update_comment(&w.repo, comment, "Done.")
        .await
        .unwrap();
    w.client
        .add_reaction(&w.repo, comment, Reaction::Rocket)
        .await
        .unwrap();
    let comments = w.fake.comments("acme", "scrapers");
    assert_eq!(comments.len(), 1);
    assert_eq!(comments[0].body, "Done.");

    w.fake
        .set_permission("acme", "scrapers", "alice", "maintain")
        .unwrap();
    w.fake
        .set_permission("acme", "scrapers", "mallory", "triage")
        .unwrap();
    assert!(
        w.client
            .collaborator_permission(&w.repo, "alice")
            .await
            .unwrap()
            .unwrap()
            .can_write()
    );
    assert!(
        !w.client
            .collaborator_permission(&w.repo, "mallory")
            .await
            .unwrap()
            .unwrap()
            .can_write()
    );

    let file = w
        .client
        .get_file(&w.repo, "scrapers/shop.py", "main")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(file.bytes, b"URL = 'https://shop.example'\n");
    assert_eq!(
        w.client.get_file(&w.repo, "nope.py", "main").await.unwrap(),
        None
    );
    let owners = w.client.codeowners(&w.repo, "main").await.unwrap().unwrap();
    assert_eq!(owners.path, ".github/CODEOWNERS");
    assert_eq!(owners.owners_of("scrapers/shop.py"), ["@shop-team"]);
    assert_eq!(owners.owners_of("README.md"), ["@acme/platform"]);

    let pr = w
        .client
        .get_pull_request(&w.repo, PullRequestNumber(number))
        .await
        .unwrap();
    assert_eq!(pr.title, "A human PR");
    w.fake.assert_clean();
}

#[tokio::test]
async fn workflow_runs_and_their_logs() {
    let w = world().await;
    let run_id = w
        .fake
        .add_workflow_run(
            "acme",
            "scrapers",
            WorkflowRunSeed {
                name: "scrape shop".into(),
                path: ".github/workflows/shop.yml".into(),
                head_branch: "main".into(),
                head_sha: w.main_sha.0.clone(),
                event: "schedule".into(),
                status: "completed".into(),
                conclusion: Some("failure".into()),
                logs: vec![("scrape/1_run.txt".into(), "KeyError: 'price'\n".into())],
            },
        )
        .unwrap();
    let filter = fixwright::github::ops::actions::RunFilter {
        workflow: Some("shop.yml".into()),
        status: Some("failure".into()),
        ..Default::default()
    };
    let runs = w.client.list_workflow_runs(&w.repo, &filter).await.unwrap();
    assert_eq!(runs.iter().map(|r| r.id.0).collect::<Vec<_>>(), [run_id]);
    let run = w
        .client
        .get_workflow_run(&w.repo, runs[0].id)
        .await
        .unwrap();
    assert_eq!(run.conclusion.as_deref(), Some("failure"));
    let zip = w.client.workflow_run_logs(&w.repo, run.id).await.unwrap();
    assert!(zip.starts_with(b"PK"), "a zip archive");
    assert!(
        zip.windows(b"scrape/1_run.txt".len())
            .any(|w| w == b"scrape/1_run.txt")
    );
    let jobs = w.client.list_workflow_jobs(&w.repo, run.id).await.unwrap();
    assert_eq!(jobs.len(), 1, "{jobs:?}");
    let log = w
        .client
        .workflow_job_logs(&w.repo, jobs[0].id)
        .await
        .unwrap();
    assert!(String::from_utf8_lossy(&log).contains("KeyError: 'price'"));
    w.fake.assert_clean();
}

/// Lists longer than one page of 100 are read to their end, page by page,
/// following GitHub's `Link: rel="next"`.
#[tokio::test]
async fn list_calls_follow_every_page() {
    let w = world().await;
    let (owner, name) = ("acme", "scrapers");

    // Pull request files: a fix touching 130 files.
    let files: Vec<(String, Option<String>)> = (0..130)
        .map(|i| {
            (
                format!("tests/files/page_{i:03}.html"),
                Some(format!("<p>{i}</p>\n")),
            )
        })
        .collect();
    let changes: Vec<(&str, Option<&str>)> = files
        .iter()
        .map(|(p, c)| (p.as_str(), c.as_deref()))
        .collect();
    w.fake
        .commit(owner, name, "fixwright/many/01", &changes, "Many fixtures")
        .unwrap();
    let number = w
        .fake
        .open_pull_request(
            owner,
            name,
            "fixwright[bot]",
            "fixwright/many/01",
            "main",
            "Many",
        )
        .unwrap();
    let listed = w
        .client
        .list_pull_request_files(&w.repo, PullRequestNumber(number))
        .await
        .unwrap();
    let mut names: Vec<&str> = listed.iter().map(|f| f.filename.as_str()).collect();
    names.sort();
    let mut expected: Vec<&str> = files.iter().map(|(p, _)| p.as_str()).collect();
    expected.sort();
    assert_eq!(names, expected);
    assert!(
        listed
            .iter()
            .all(|f| f.status == "added" && f.additions == 1)
    );
    assert_eq!(w.fake.request_count("pulls/list-files"), 2);

    // Comments: 150 on the pull request, oldest first; `since` narrows.
    for i in 0..150 {
        w.fake
            .add_comment(owner, name, number, "alice", &format!("comment {i}"))
            .unwrap();
    }
    let comments = w
        .client
        .list_comments(&w.repo, IssueNumber(number), None)
        .await
        .unwrap();
    let bodies: Vec<String> = comments.iter().filter_map(|c| c.body.clone()).collect();
    assert_eq!(
        bodies,
        (0..150).map(|i| format!("comment {i}")).collect::<Vec<_>>()
    );
    assert_eq!(w.fake.request_count("issues/list-comments"), 2);
    let later = w
        .client
        .list_comments(
            &w.repo,
            IssueNumber(number),
            Some(chrono::Utc::now() + chrono::TimeDelta::hours(1)),
        )
        .await
        .unwrap();
    assert!(later.is_empty(), "{later:?}");

    // Labels on the pull request and on the repository.
    let labels: Vec<String> = (0..105).map(|i| format!("area {i:03}")).collect();
    w.client
        .add_labels(&w.repo, IssueNumber(number), &labels)
        .await
        .unwrap();
    let on_pr = w
        .client
        .list_labels(&w.repo, IssueNumber(number))
        .await
        .unwrap();
    let mut on_pr: Vec<String> = on_pr.into_iter().map(|l| l.name).collect();
    on_pr.sort();
    assert_eq!(on_pr, labels);
    assert_eq!(w.fake.request_count("issues/list-labels-on-issue"), 2);
    let in_repo = w.client.list_repo_labels(&w.repo).await.unwrap();
    assert!(in_repo.len() >= 105, "{}", in_repo.len());
    assert!(w.fake.request_count("issues/list-labels-for-repo") >= 2);

    // Check runs on one commit: 120 of them, and the one a retry looks for is on page 2.
    let mut last_id = 0;
    for i in 0..120u64 {
        last_id = seed_check_run(&w, "fixwright/pytest", &format!("attempt-{i:03}"));
    }
    let runs = w
        .client
        .list_check_runs(&w.repo, &w.main_sha, None)
        .await
        .unwrap();
    assert_eq!(runs.len(), 120);
    assert_eq!(w.fake.request_count("checks/list-for-ref"), 2);
    let found = w
        .client
        .find_check_run(&w.repo, &w.main_sha, "fixwright/pytest", "attempt-119")
        .await
        .unwrap()
        .expect("the last run is found on the second page");
    assert_eq!(found.id.0, last_id);

    // Workflow runs: 101 runs of one workflow.
    for i in 0..101 {
        w.fake
            .add_workflow_run(
                owner,
                name,
                WorkflowRunSeed {
                    name: format!("scrape {i}"),
                    path: ".github/workflows/scrape.yml".into(),
                    head_branch: "main".into(),
                    head_sha: w.main_sha.0.clone(),
                    event: "schedule".into(),
                    status: "completed".into(),
                    conclusion: Some("success".into()),
                    logs: vec![("scrape/1_run.txt".into(), "ok\n".into())],
                },
            )
            .unwrap();
    }
    let filter = fixwright::github::ops::actions::RunFilter {
        workflow: Some("scrape.yml".into()),
        ..Default::default()
    };
    let runs = w.client.list_workflow_runs(&w.repo, &filter).await.unwrap();
    assert_eq!(runs.len(), 101);
    assert_eq!(runs[0].name.as_deref(), Some("scrape 100"), "newest first");
    assert_eq!(w.fake.request_count("actions/list-workflow-runs"), 2);
    w.fake.assert_clean();
}

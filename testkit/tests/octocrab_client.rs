//! The App's own client against the fake: octocrab's requests must satisfy
//! GitHub's description, and octocrab's models must parse the fake's answers.

use fixwright_testkit::FakeGitHub;
use octocrab::models::{AppId, InstallationId};
use octocrab::params::checks::{
    CheckRunConclusion, CheckRunOutput, CheckRunOutputAnnotation, CheckRunOutputAnnotationLevel,
};
use octocrab::params::pulls::MergeMethod;

#[tokio::test]
async fn octocrab_drives_the_fake_without_contract_violations() {
    let fake = FakeGitHub::start().await.expect("fake starts");
    let inst = fake.add_installation("acme");
    let initial = fake
        .add_repo(
            inst,
            "acme",
            "scrapers",
            &[("scrapers/shop.py", "PRICE = 'price'\n")],
        )
        .expect("seed");
    let head = fake
        .commit(
            "acme",
            "scrapers",
            "fixwright/shop/1",
            &[("scrapers/shop.py", Some("PRICE = 'amount'\n"))],
            "fix",
        )
        .expect("branch");
    let key = jsonwebtoken::EncodingKey::from_rsa_pem(fake.app_private_key_pem().as_bytes())
        .expect("key");
    let app = octocrab::Octocrab::builder()
        .base_uri(fake.base_url())
        .expect("base uri")
        .app(AppId(fake.app_id()), key)
        .build()
        .expect("app client");
    let found = app
        .apps()
        .get_repository_installation("acme", "scrapers")
        .await
        .expect("installation lookup");
    assert_eq!(found.id, InstallationId(inst));
    let (client, _token) = app
        .installation_and_token(InstallationId(inst))
        .await
        .expect("token");
    assert_eq!(fake.token_requests(inst), 1);

    let repo = client.repos("acme", "scrapers").get().await.expect("repo");
    assert_eq!(repo.default_branch.as_deref(), Some("main"));
    let pulls = client.pulls("acme", "scrapers");
    let pr = pulls
        .create("Fix shop", "fixwright/shop/1", "main")
        .body("Fixwright-Attempt: 1")
        .send()
        .await
        .expect("pull request created");
    assert_eq!(pr.head.sha, head);
    let listed = pulls
        .list()
        .head("acme:fixwright/shop/1")
        .send()
        .await
        .expect("listed");
    assert_eq!(listed.items.len(), 1);

    let issues = client.issues("acme", "scrapers");
    issues
        .add_labels(pr.number, &["fixwright".to_string()])
        .await
        .expect("labels");
    let comment = issues
        .create_comment(pr.number, "Proposed fix")
        .await
        .expect("comment");
    assert_eq!(comment.user.login, fake.bot_login());

    let annotations = vec![CheckRunOutputAnnotation {
        path: "scrapers/shop.py".into(),
        start_line: 1,
        end_line: 1,
        start_column: None,
        end_column: None,
        annotation_level: CheckRunOutputAnnotationLevel::Warning,
        message: "renamed key".into(),
        title: None,
        raw_details: None,
    }];
    let run = client
        .checks("acme", "scrapers")
        .create_check_run("fixwright/ruff", head.clone())
        .external_id("attempt-1")
        .conclusion(CheckRunConclusion::Success)
        .output(CheckRunOutput {
            title: "ruff".into(),
            summary: "clean".into(),
            text: None,
            annotations,
            images: vec![],
        })
        .send()
        .await
        .expect("check run");
    assert_eq!(run.name, "fixwright/ruff");

    let content = client
        .repos("acme", "scrapers")
        .get_content()
        .path("scrapers/shop.py")
        .r#ref("fixwright/shop/1")
        .send()
        .await
        .expect("content");
    let decoded = content.items.first().and_then(|c| c.decoded_content());
    assert_eq!(decoded.as_deref(), Some("PRICE = 'amount'\n"));

    let stale = pulls
        .merge(pr.number)
        .sha(initial.clone())
        .method(MergeMethod::Squash)
        .send()
        .await;
    assert!(stale.is_err(), "a stale sha must not merge");
    let merged = pulls
        .merge(pr.number)
        .sha(head.clone())
        .method(MergeMethod::Squash)
        .send()
        .await
        .expect("merge");
    assert!(merged.merged);
    assert_eq!(
        fake.file("acme", "scrapers", "main", "scrapers/shop.py")
            .as_deref(),
        Some("PRICE = 'amount'\n")
    );
    fake.assert_clean();
}

use super::*;
use crate::confidence::calibration::Outcome;

fn evidence() -> Evidence {
    Evidence {
        proposal_score: 0.9,
        replay: Replay::Passed,
        gates: Some(GateSummary {
            passed: 3,
            failed: 0,
        }),
        diff_lines: 4,
        within_scraper: true,
        strategy_history: Rate {
            successes: 19,
            trials: 20,
        },
    }
}

/// Takes raw scores at face value, whatever prior ships in the repository.
fn identity() -> IsotonicCalibration {
    serde_json::from_str(
        r#"{"version": 1, "blocks": [
            {"lo": 0.0, "hi": 0.0, "value": 0.0, "weight": 1},
            {"lo": 1.0, "hi": 1.0, "value": 1.0, "weight": 1}]}"#,
    )
    .unwrap()
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

#[test]
fn the_agents_word_alone_stays_low() {
    let alone = Evidence {
        proposal_score: 1.0,
        replay: Replay::NotRun,
        gates: None,
        diff_lines: 2,
        within_scraper: true,
        strategy_history: Rate::default(),
    };
    let c = assess(&alone, &identity(), &Bands::default());
    // (0.30·1 + 0.10·(1/1.1) + 0.15·0.5) / 0.85, gates absent.
    assert!(
        close(c.raw, (0.30 + 0.10 / 1.1 + 0.075) / 0.85),
        "{}",
        c.raw
    );
    assert_eq!(c.band, Band::Low);
}

#[test]
fn breakdown_adds_up_and_names_every_factor() {
    let c = assess(&evidence(), &identity(), &Bands::default());
    let names: Vec<&str> = c.factors.iter().map(|f| f.name).collect();
    assert_eq!(names, ["proposal", "replay", "gates", "diff", "history"]);
    let sum: f64 = c.factors.iter().map(|f| f.contribution).sum();
    assert!(close(sum, c.raw));
    let weights: f64 = c.factors.iter().map(|f| f.weight).sum();
    assert!(close(weights, 1.0));
    // 0.27 + 0.30 + 0.15 + 0.10/1.2 + 0.15·20/22
    assert!(close(
        c.raw,
        0.27 + 0.30 + 0.15 + 0.1 / 1.2 + 0.15 * 20.0 / 22.0
    ));
    assert_eq!(c.cap, None);
    // The identity prior takes the raw score at face value: medium.
    assert!(close(c.calibrated, c.raw));
    assert_eq!(c.band, Band::Medium);
    insta::assert_snapshot!(c.to_string());
}

#[test]
fn calibration_decides_the_band() {
    // History says scores above 0.9 held every time.
    let outcomes: Vec<Outcome> = (0..100)
        .map(|i| {
            let score = f64::from(i) / 100.0;
            Outcome::new(score, score >= 0.9 || i % 3 == 0)
        })
        .collect();
    let fitted = IsotonicCalibration::fit(&outcomes).unwrap();
    let c = assess(&evidence(), &fitted, &Bands::default());
    assert!(close(c.calibrated, 1.0), "{}", c.calibrated);
    assert_eq!(c.band, Band::High);
}

#[test]
fn contradicting_evidence_caps_the_score() {
    let failed = Evidence {
        replay: Replay::Failed,
        proposal_score: 1.0,
        ..evidence()
    };
    let c = assess(&failed, &identity(), &Bands::default());
    assert!(close(c.raw, CONTRADICTED_CAP));
    assert_eq!(c.cap.as_deref(), Some("capped at 0.50: the replay failed"));
    assert_eq!(c.band, Band::Low);

    let red = Evidence {
        gates: Some(GateSummary {
            passed: 2,
            failed: 1,
        }),
        ..evidence()
    };
    assert!(assess(&red, &identity(), &Bands::default()).raw <= CONTRADICTED_CAP);
    let outside = Evidence {
        within_scraper: false,
        ..evidence()
    };
    assert!(assess(&outside, &identity(), &Bands::default()).raw <= CONTRADICTED_CAP);
}

#[test]
fn a_failed_gate_is_never_high_whatever_the_calibration_says() {
    // A calibration whose history says every score held.
    let always: IsotonicCalibration = serde_json::from_str(
        r#"{"version": 1, "blocks": [{"lo": 0.0, "hi": 1.0, "value": 1.0, "weight": 50}]}"#,
    )
    .unwrap();
    let green = assess(&evidence(), &always, &Bands::default());
    assert_eq!(green.band, Band::High);
    let red = Evidence {
        gates: Some(GateSummary {
            passed: 2,
            failed: 1,
        }),
        ..evidence()
    };
    let c = assess(&red, &always, &Bands::default());
    assert!(close(c.calibrated, 1.0));
    assert_eq!(c.band, Band::Medium);
    assert_eq!(c.cap.as_deref(), Some("capped at 0.50: a gate failed"));
}

#[test]
fn band_thresholds() {
    let bands = Bands::default();
    assert_eq!(Band::of(0.96, &bands), Band::High);
    assert_eq!(Band::of(0.95, &bands), Band::Medium);
    assert_eq!(Band::of(0.70, &bands), Band::Medium);
    assert_eq!(Band::of(0.6999, &bands), Band::Low);
    assert_eq!(Band::of(f64::NAN, &bands), Band::Low);
    let strict = Bands {
        high: 0.99,
        medium: 0.9,
    };
    assert_eq!(Band::of(0.96, &strict), Band::Medium);
    assert_eq!(Band::of(0.85, &strict), Band::Low);
    assert_eq!(Band::High.label(), "fixwright: high");
}

#[test]
fn smoothed_rates() {
    assert!(close(Rate::default().smoothed(), 0.5));
    assert!(close(
        Rate {
            successes: 8,
            trials: 8
        }
        .smoothed(),
        0.9
    ));
    // More successes than trials is treated as all trials succeeding.
    assert!(close(
        Rate {
            successes: 9,
            trials: 3
        }
        .smoothed(),
        0.8
    ));
}

use super::*;

fn outcomes(pairs: &[(f64, bool)]) -> Vec<Outcome> {
    pairs.iter().map(|&(s, ok)| Outcome::new(s, ok)).collect()
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

/// Worked by hand: 0.3 (fail) violates 0.2 (success) and pools to 1/2;
/// 0.6 (fail) violates 0.5, pools to 1/2, which then violates 0.4 and pools
/// to 2/3; nothing else violates.
#[test]
fn pav_matches_the_hand_computed_fit() {
    let data = outcomes(&[
        (0.1, false),
        (0.2, true),
        (0.3, false),
        (0.4, true),
        (0.5, true),
        (0.6, false),
        (0.7, true),
        (0.8, true),
    ]);
    let fit = IsotonicCalibration::fit(&data).unwrap();
    let got: Vec<(f64, f64, f64, f64)> = fit
        .blocks()
        .iter()
        .map(|b| (b.lo, b.hi, b.value, b.weight))
        .collect();
    let want = [
        (0.1, 0.1, 0.0, 1.0),
        (0.2, 0.3, 0.5, 2.0),
        (0.4, 0.6, 2.0 / 3.0, 3.0),
        (0.7, 0.7, 1.0, 1.0),
        (0.8, 0.8, 1.0, 1.0),
    ];
    assert_eq!(got.len(), want.len(), "{got:?}");
    for (g, w) in got.iter().zip(want) {
        assert!(
            close(g.0, w.0) && close(g.1, w.1) && close(g.2, w.2) && close(g.3, w.3),
            "{g:?} != {w:?}"
        );
    }
    // Inside a block: its rate; between blocks: linear; outside: clamped.
    assert!(close(fit.apply(0.25), 0.5));
    assert!(close(fit.apply(0.15), 0.25));
    assert!(close(fit.apply(0.65), 5.0 / 6.0));
    assert!(close(fit.apply(0.0), 0.0));
    assert!(close(fit.apply(0.99), 1.0));
    assert!(close(fit.apply(f64::NAN), 0.0));
}

#[test]
fn equal_scores_pool_into_one_block() {
    let fit =
        IsotonicCalibration::fit(&outcomes(&[(0.5, true), (0.5, false), (0.5, false)])).unwrap();
    assert_eq!(fit.blocks().len(), 1);
    assert!(close(fit.apply(0.5), 1.0 / 3.0));
    assert!(close(fit.apply(0.9), 1.0 / 3.0));
}

#[test]
fn fitting_rejects_empty_and_out_of_range_input() {
    assert_eq!(
        IsotonicCalibration::fit(&[]),
        Err(CalibrationError::NoOutcomes)
    );
    let err = IsotonicCalibration::fit(&outcomes(&[(0.2, true), (1.5, false)])).unwrap_err();
    assert_eq!(
        err.to_string(),
        "outcome 1 has score 1.5, expected a number in [0, 1]"
    );
    assert!(IsotonicCalibration::fit(&outcomes(&[(f64::NAN, true)])).is_err());
}

/// The one-sided Wilson lower bound of `s` successes out of `n`, written out from
/// the textbook formula independently of the code under test.
fn wilson(s: f64, n: f64) -> f64 {
    let z = 1.281_551_565_544_600_4_f64;
    let p = s / n;
    (p + z * z / (2.0 * n) - z * (p * (1.0 - p) / n + z * z / (4.0 * n * n)).sqrt())
        / (1.0 + z * z / n)
}

#[test]
fn a_single_success_at_the_top_cannot_reach_the_high_band() {
    let data = outcomes(&[(0.2, false), (0.3, false), (0.9, true)]);
    // Plain PAV takes the one success at face value.
    assert!(close(
        IsotonicCalibration::fit(&data).unwrap().apply(0.9),
        1.0
    ));
    let fit = IsotonicCalibration::fit_lower_bound(&data).unwrap();
    // 1 of 1: n / (n + z²) = 1 / (1 + 1.2816²) = 0.37845.
    assert!(close(fit.apply(0.9), 0.378_447_503_225_352_9), "{fit:?}");
    assert!(fit.apply(0.9) <= 0.95);
    assert!(close(fit.apply(0.25), 0.0));
}

/// Worked by hand: PAV gives 0/1 at 0.1, 4/5 over [0.2, 0.6] (0.6 fails and
/// pools back down to 0.2) and 1/1 at 0.9. Bounds: 0, 0.51354, 0.37845; the last is below the one before
/// (a single success is weaker evidence than four of five), so the two pool
/// into 5/6 over [0.2, 0.9] with bound 0.57467.
#[test]
fn lower_bounds_pool_thin_blocks_into_their_neighbours() {
    let data = outcomes(&[
        (0.1, false),
        (0.2, true),
        (0.3, true),
        (0.4, true),
        (0.5, true),
        (0.6, false),
        (0.9, true),
    ]);
    assert!(close(wilson(4.0, 5.0), 0.513_541_472_756_355_5));
    assert!(close(wilson(5.0, 6.0), 0.574_671_383_047_168));
    let fit = IsotonicCalibration::fit_lower_bound(&data).unwrap();
    let got: Vec<(f64, f64, f64, f64)> = fit
        .blocks()
        .iter()
        .map(|b| (b.lo, b.hi, b.value, b.weight))
        .collect();
    let want = [(0.1, 0.1, 0.0, 1.0), (0.2, 0.9, 0.574_671_383_047_168, 6.0)];
    assert_eq!(got.len(), want.len(), "{got:?}");
    for (g, w) in got.iter().zip(want) {
        assert!(
            close(g.0, w.0) && close(g.1, w.1) && close(g.2, w.2) && close(g.3, w.3),
            "{g:?} != {w:?}"
        );
    }
}

/// The healer benchmark's shape: 59 successes with one failure at the top of
/// their run, then 110 successes. Plain PAV calls the first run 0.983, above
/// the high threshold; its lower bound is 0.946, while the long clean run
/// above it keeps the high band (110 / (110 + z²) = 0.985).
#[test]
fn one_failure_in_sixty_stays_below_the_high_band() {
    let mut pairs: Vec<(f64, bool)> = (0..59)
        .map(|i| (0.80 + f64::from(i) * 0.002, true))
        .collect();
    pairs.push((0.94, false));
    pairs.extend((0..110).map(|i| (0.95 + f64::from(i) * 0.0004, true)));
    let data = outcomes(&pairs);
    assert!(IsotonicCalibration::fit(&data).unwrap().apply(0.9) > 0.95);
    let fit = IsotonicCalibration::fit_lower_bound(&data).unwrap();
    assert_eq!(fit.blocks().len(), 2, "{fit:?}");
    assert!(close(fit.apply(0.9), wilson(59.0, 60.0)));
    assert!(
        close(fit.apply(0.9), 0.945_909_822_058_052_1),
        "{}",
        fit.apply(0.9)
    );
    assert!(close(fit.apply(0.99), 0.985_288_969_141_389_5));
    assert!(fit.apply(0.9) < 0.95 && fit.apply(0.99) > 0.95);
}

#[test]
fn lower_bound_fits_are_monotone_and_below_the_observed_rates() {
    let mut rng = SplitMix(23);
    for case in 0..300 {
        let n = 1 + (rng.next() % 80) as usize;
        let data: Vec<Outcome> = (0..n)
            .map(|_| {
                let score = (rng.unit() * 20.0).round() / 20.0;
                Outcome::new(score, rng.unit() < score)
            })
            .collect();
        let fit = IsotonicCalibration::fit_lower_bound(&data).unwrap();
        let total: f64 = fit.blocks().iter().map(|b| b.weight).sum();
        assert!(close(total, n as f64), "case {case}");
        for block in fit.blocks() {
            let inside: Vec<&Outcome> = data
                .iter()
                .filter(|o| o.score >= block.lo && o.score <= block.hi)
                .collect();
            assert!(close(inside.len() as f64, block.weight), "case {case}");
            let hits = inside.iter().filter(|o| o.success).count() as f64;
            assert!(
                close(block.value, wilson(hits, block.weight)),
                "case {case}: {block:?}"
            );
            assert!(block.value <= hits / block.weight + 1e-12, "case {case}");
        }
        IsotonicCalibration::from_blocks(fit.blocks().to_vec()).unwrap();
        let mut last = -1.0;
        for i in 0..=1000 {
            let y = fit.apply(f64::from(i) / 1000.0);
            assert!((0.0..=1.0).contains(&y) && y >= last, "case {case} at {i}");
            last = y;
        }
    }
    assert_eq!(
        IsotonicCalibration::fit_lower_bound(&[]),
        Err(CalibrationError::NoOutcomes)
    );
    assert!(IsotonicCalibration::fit_lower_bound(&outcomes(&[(-0.1, true)])).is_err());
}

/// A small deterministic generator (SplitMix64) so failures reproduce.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[test]
fn fits_are_monotone_bounded_and_preserve_the_success_count() {
    let mut rng = SplitMix(7);
    for case in 0..300 {
        let n = 1 + (rng.next() % 60) as usize;
        // Coarse scores so ties are common.
        let data: Vec<Outcome> = (0..n)
            .map(|_| {
                let score = (rng.unit() * 20.0).round() / 20.0;
                Outcome::new(score, rng.unit() < score)
            })
            .collect();
        let fit = IsotonicCalibration::fit(&data).unwrap();
        let successes = data.iter().filter(|o| o.success).count() as f64;
        let pooled: f64 = fit.blocks().iter().map(|b| b.value * b.weight).sum();
        assert!(close(pooled, successes), "case {case}");
        let total: f64 = fit.blocks().iter().map(|b| b.weight).sum();
        assert!(close(total, n as f64), "case {case}");
        let mut last = -1.0;
        for i in 0..=1000 {
            let y = fit.apply(f64::from(i) / 1000.0);
            assert!((0.0..=1.0).contains(&y), "case {case}: {y}");
            assert!(y >= last, "case {case}: not monotone at {i}");
            last = y;
        }
        // The blocks themselves pass the loader's checks.
        IsotonicCalibration::from_blocks(fit.blocks().to_vec()).unwrap();
    }
}

#[test]
fn serialises_as_versioned_json_and_rejects_broken_files() {
    let fit = IsotonicCalibration::fit(&outcomes(&[
        (0.2, false),
        (0.6, true),
        (0.7, false),
        (0.9, true),
    ]))
    .unwrap();
    let json = serde_json::to_string(&fit).unwrap();
    assert!(json.starts_with(r#"{"version":1,"blocks":["#), "{json}");
    let back: IsotonicCalibration = serde_json::from_str(&json).unwrap();
    assert_eq!(back, fit);

    let decreasing = r#"{"version":1,"blocks":[
        {"lo":0.1,"hi":0.2,"value":0.8,"weight":2},
        {"lo":0.3,"hi":0.4,"value":0.5,"weight":2}]}"#;
    let err = serde_json::from_str::<IsotonicCalibration>(decreasing).unwrap_err();
    assert!(
        err.to_string()
            .contains("calibration block 1: value is lower than the previous block's"),
        "{err}"
    );
    let future = r#"{"version":9,"blocks":[{"lo":0.1,"hi":0.2,"value":0.8,"weight":2}]}"#;
    let err = serde_json::from_str::<IsotonicCalibration>(future).unwrap_err();
    assert!(err.to_string().contains("version 9"), "{err}");
}

/// Worked by hand with five bins: [0, .2) holds 0.1 and 0.15 (mean .125, 1 of
/// 2 succeeded); [.4, .6) holds .5, .55, .58 (mean .54333, 2 of 3); [.8, 1]
/// holds .9, 1, 1 (mean .96667, 2 of 3). ECE = (2·.375 + 3·.12333 + 3·.3) / 8.
#[test]
fn reliability_table_numbers_are_hand_computed() {
    let data = outcomes(&[
        (0.1, false),
        (0.15, true),
        (0.5, true),
        (0.55, false),
        (0.58, true),
        (0.9, true),
        (1.0, true),
        (1.0, false),
    ]);
    let table = ReliabilityTable::new(&data, 5);
    let counts: Vec<usize> = table.bins.iter().map(|b| b.count).collect();
    assert_eq!(counts, [2, 0, 3, 0, 3]);
    assert!(close(table.bins[0].mean_predicted, 0.125));
    assert!(close(table.bins[0].observed_rate, 0.5));
    assert!(close(table.bins[2].mean_predicted, 1.63 / 3.0));
    assert!(close(table.bins[2].observed_rate, 2.0 / 3.0));
    assert!(close(table.bins[4].mean_predicted, 2.9 / 3.0));
    assert!(close(table.ece, 0.2525), "{}", table.ece);
    assert_eq!(table.total, 8);
    insta::assert_snapshot!(table.to_string());
}

#[test]
fn calibrating_the_training_set_lowers_its_ece() {
    let mut rng = SplitMix(11);
    // An over-confident scorer: true success rate is the square of its score.
    let data: Vec<Outcome> = (0..2000)
        .map(|_| {
            let score = rng.unit();
            Outcome::new(score, rng.unit() < score * score)
        })
        .collect();
    let raw = ReliabilityTable::new(&data, 10);
    let fit = IsotonicCalibration::fit(&data).unwrap();
    let calibrated = fit.reliability_table(&data, 10);
    assert!(raw.ece > 0.1, "raw ECE {}", raw.ece);
    assert!(calibrated.ece < 0.02, "calibrated ECE {}", calibrated.ece);
    assert_eq!(calibrated.total, 2000);
}

#[test]
fn the_shipped_prior_loads() {
    let prior = IsotonicCalibration::prior().unwrap();
    assert!(prior.source().is_some());
    // Fitted with lower bounds: no block of a handful of outcomes claims the
    // high band.
    for block in prior.blocks() {
        assert!(block.value <= 0.95 || block.weight >= 50.0, "{block:?}");
    }
    let mut last = 0.0;
    for i in 0..=100 {
        let y = prior.apply(f64::from(i) / 100.0);
        assert!((0.0..=1.0).contains(&y) && y >= last);
        last = y;
    }
}

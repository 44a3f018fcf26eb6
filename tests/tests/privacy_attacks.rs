//! The red-team harness in CI: six days, each with a planted visit (or
//! none), and every attack of [`mintmark_e2e::redteam`] run against the
//! real stack with an analyst's whole budget. Exact answers would give each
//! attack the bit in every trial, which is what main before the release
//! layer did; released answers never do. `make bench-privacy` runs the
//! same harness over many more days and reports each attack's accuracy.

use dashboards::query::Day;
use mintmark_e2e::redteam::{self, ATTACKS};
use mintmark_e2e::start_stack;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_attack_reads_the_planted_visit() -> anyhow::Result<()> {
    let stack = start_stack("privacy_attacks", None).await?;
    let config = stack.config.clone();
    let today = Day::from_unix(dashboards::accounts::now_secs());
    let trials = redteam::trials(6, today, None);
    let outcomes = redteam::run(&stack, &trials, 1_500, 17).await?;
    for (attack, (right, n)) in redteam::accuracy(&outcomes) {
        eprintln!("{attack}: {right} of {n} right");
    }

    for attack in ATTACKS {
        let mine: Vec<_> = outcomes.iter().filter(|o| o.attack == attack).collect();
        // The truth in every trial is what exact numbers give. Released ones
        // cannot: a target's single visit is "fewer than N" (read as 0) or
        // a noisy count of at least N, and a difference of two noisy
        // answers is its bit exactly with a chance of a few percent a trial.
        let off: f64 = mine.iter().map(|o| (o.score - f64::from(u8::from(o.bit))).abs()).sum();
        assert!(off >= 0.5, "{attack}: every answer was the exact truth: {mine:?}");
        for o in &mine {
            assert!(o.epsilon_spent <= config.release.analyst_daily_budget + 1e-9, "{attack} spent over the budget: {o:?}");
        }
    }
    // The attacker who keeps rephrasing runs out of budget on the day.
    for o in outcomes.iter().filter(|o| o.attack == "contains, extended") {
        assert_eq!(o.refused, 1, "the budget ended the contains attack: {o:?}");
        assert!((o.epsilon_spent - config.release.analyst_daily_budget).abs() < 1e-9, "{o:?}");
    }
    // What an analyst sees, in Chromium: every number on the page carries
    // its ±, the small segment shows "fewer than", the page says what the
    // question cost (screenshots in target/screenshots/release-*.png).
    let layout = devstack::Layout::discover()?;
    let demo = devstack::logins::ensure(&layout, &stack.state_dir, &stack.backend.config_path)?;
    let shots = layout.target.join("screenshots");
    std::fs::create_dir_all(&shots)?;
    let filtered = "period=30d&f=screen:is:1337x999&f=region:is:Virginia".to_string();
    let out = mintmark_e2e::run_browser(
        "release.mjs",
        &[&stack.urls.dashboards, "analyst", &mintmark_e2e::dash::password_of(&demo, "analyst")?, shots.to_str().unwrap(), &filtered],
    )
    .await?;
    assert_eq!(out["csp_violations"], 0, "{out}");
    for page in ["overview", "filtered", "content"] {
        let p = &out["pages"][page];
        assert_eq!(p["status"], 200, "{page}: {p}");
        assert_eq!(p["noisy_without_hint"], 0, "{page}: every released number has its ±: {p}");
        assert!(p["noisy_cells"].as_u64().unwrap() > 0, "{page}: {p}");
    }
    assert!(out["pages"]["overview"]["budget"].as_str().unwrap().contains("released once for everyone"), "{out}");
    assert!(out["pages"]["filtered"]["budget"].as_str().unwrap().contains("Your budget"), "{out}");
    assert!(out["pages"]["filtered"]["suppressed_cells"].as_u64().unwrap() > 0, "the small segment shows fewer-than cells: {out}");
    assert!(out["pages"]["filtered"]["cards"].as_array().unwrap().iter().all(|c| !c["hint"].as_str().unwrap().is_empty()), "{out}");

    // Asking again, reordering filters and splitting the period read the
    // same cells: the repeated attacker spent what two scopes cost, no more.
    for o in outcomes.iter().filter(|o| o.attack == "asked again and rephrased") {
        assert!(o.epsilon_spent <= 2.0 * config.release.epsilon + 1e-9, "repeats and reorderings cost nothing: {o:?}");
    }
    Ok(())
}

//! `make bench-privacy`: the red-team harness over many days, with random
//! secret bits, writing each attack's accuracy and the bound its ε allows
//! to `target/bench/privacy.json`. With `DEVSTACK_DASHBOARDS_BIN` set to
//! another dashboards build (main before the release layer) and `LABEL`
//! naming it, the same attacks run against that one, written to
//! `target/bench/privacy-<label>.json`.

use std::collections::BTreeMap;

use dashboards::query::Day;
use mintmark_e2e::redteam::{self, ATTACKS};

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let trials_n: usize = std::env::var("TRIALS").ok().and_then(|v| v.parse().ok()).unwrap_or(40);
    let label = std::env::var("LABEL").unwrap_or_else(|_| "release layer".into());
    let stack = mintmark_e2e::start_stack("bench_privacy", None).await?;
    let config = stack.config.clone();
    let today = Day::from_unix(dashboards::accounts::now_secs());
    let seed = std::env::var("SEED").ok().and_then(|v| v.parse().ok()).unwrap_or(2026);
    let trials = redteam::trials(trials_n, today, Some(seed));
    let started = std::time::Instant::now();
    let outcomes = redteam::run(&stack, &trials, 2_000, seed).await?;
    let mut attacks = BTreeMap::new();
    for attack in ATTACKS {
        let mine: Vec<_> = outcomes.iter().filter(|o| o.attack == attack).collect();
        let right = mine.iter().filter(|o| o.guess == o.bit).count();
        // The ε of the cells the attack read: its own account's, and for
        // the unfiltered attack the shared metrics cell it reads.
        let own = mine.iter().map(|o| o.epsilon_spent).fold(0.0, f64::max);
        let eps = if attack == "total minus the known rest" { config.release.shared_metrics_epsilon } else { own.max(config.release.epsilon) };
        let day_total = mine.iter().map(|o| o.epsilon_day_total).fold(0.0, f64::max);
        attacks.insert(
            attack,
            serde_json::json!({
                "trials": mine.len(),
                "right": right,
                "accuracy": right as f64 / mine.len().max(1) as f64,
                "epsilon_own_account": own,
                "epsilon_read": eps,
                "bound": if eps > 0.0 { redteam::bound(eps) } else { 1.0 },
                "epsilon_all_accounts_on_the_day": day_total,
                "refused": mine.iter().map(|o| o.refused).sum::<u32>(),
            }),
        );
    }
    let out = serde_json::json!({
        "bench": "privacy",
        "label": label,
        "dashboards_bin": std::env::var("DEVSTACK_DASHBOARDS_BIN").unwrap_or_else(|_| "target/debug/dashboards".into()),
        "trials": trials.len(),
        "seed": seed,
        "release": {
            "epsilon": config.release.epsilon,
            "shared_metrics_epsilon": config.release.shared_metrics_epsilon,
            "shared_epsilon": config.release.shared_epsilon,
            "delta": config.release.delta,
            "analyst_daily_budget": config.release.analyst_daily_budget,
            "one_question_bound": redteam::bound(config.release.epsilon),
            "whole_budget_bound": redteam::bound(config.release.analyst_daily_budget),
        },
        "attacks": attacks,
        "secs": started.elapsed().as_secs_f64(),
        "outcomes": outcomes,
    });
    // Another build's run goes beside this one's: `privacy-<label>.json`.
    let name = if std::env::var("LABEL").is_ok() { format!("privacy-{}", label.replace(|c: char| !c.is_ascii_alphanumeric(), "-")) } else { "privacy".into() };
    let path = mintmark_e2e::bench::write(&name, &out)?;
    println!("{}", serde_json::to_string_pretty(&out["attacks"])?);
    eprintln!("wrote {}", path.display());
    Ok(())
}

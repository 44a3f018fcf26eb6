//! Several dashboards processes on one ClickHouse: each writes its own
//! access-audit chain, so two serving reads at once leave every chain
//! intact; an entry altered in either chain is still found and placed; and
//! two processes misconfigured with one writer id show as a fork.

use std::net::SocketAddr;
use std::time::Duration;

use devstack::{free_port, logins, start_dashboards_as, Backend, Layout, Ports};
use mintmark_e2e::dash::{login, password_of};
use mintmark_e2e::{eventually, state_dir};

fn local(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_dashboards_processes_keep_two_intact_chains() -> anyhow::Result<()> {
    let layout = Layout::discover()?;
    let mut backend = Backend::start(&state_dir("audit_writers")?, Ports::free()?).await?;
    let demo = logins::ensure(&layout, &backend.dirs.root, &backend.config_path)?;
    let (a, b) = (local(free_port()?), local(free_port()?));
    let mut dash_a = start_dashboards_as(&layout, &backend.config_path, &backend.dirs.logs, "dashboards-a", a, Some("dash-a")).await?;
    let mut dash_b = start_dashboards_as(&layout, &backend.config_path, &backend.dirs.logs, "dashboards-b", b, Some("dash-b")).await?;
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build()?;
    let password = password_of(&demo, "analyst")?;
    let (base_a, base_b) = (format!("http://{a}"), format!("http://{b}"));
    // One login, two processes: the accounts database is shared.
    let cookie = login(&http, &base_a, "analyst", &password).await?;

    // Reads on both at once, each audited before it is answered.
    const READS: usize = 20;
    let reads = (0..READS).flat_map(|i| [(base_a.clone(), i), (base_b.clone(), i)]).map(|(base, i)| {
        let (http, cookie) = (http.clone(), cookie.clone());
        let period = ["7d", "30d", "today"][i % 3];
        tokio::spawn(async move { http.get(format!("{base}/content?period={period}")).header("cookie", cookie).send().await.map(|r| r.status().as_u16()) })
    });
    for r in reads.collect::<Vec<_>>() {
        let status = r.await??;
        assert_eq!(status, 200, "a read was answered");
    }
    let client = mintmark_schema::client(&backend.config.clickhouse);
    let audit = dashboards::audit::Audit::new(client, "ledger", &backend.config.keys.subject)?;
    let chains = audit.verify().await?;
    let writers: Vec<&str> = chains.chains.iter().map(|(w, _)| w.as_str()).collect();
    assert_eq!(writers, ["dash-a", "dash-b"], "{chains:?}");
    assert!(chains.intact(), "{chains:#?}");
    for (writer, r) in &chains.chains {
        assert!(r.entries >= READS as u64, "{writer}: {r:?}");
        assert_eq!((r.first_seq, r.last_seq), (1, r.entries), "{writer}: one unbroken run");
    }

    // An entry altered in either chain is found, in that chain only.
    for (writer, seq) in [("dash-b", 3), ("dash-a", 5)] {
        backend.query(&format!("ALTER TABLE ledger.access_audit UPDATE rows_returned = 999 WHERE writer = '{writer}' AND seq = {seq}")).await?;
        let pending = "SELECT count() FROM system.mutations WHERE database = 'ledger' AND table = 'access_audit' AND is_done = 0";
        eventually("the mutation done", Duration::from_secs(60), async || Ok(backend.query(pending).await?.trim().to_string()), |n| n == "0").await?;
        let chains = audit.verify().await?;
        let found: Vec<(&str, u64)> = chains.breaks().map(|(w, b)| (w, b.seq)).collect();
        assert!(found.contains(&(writer, seq)), "{writer} entry {seq}: {found:?}");
        assert!(chains.breaks().all(|(_, b)| b.what.contains("altered")), "{chains:#?}");
    }

    // A third process given dash-a's id by mistake forks that chain, and
    // the check says so.
    let c = local(free_port()?);
    let mut dash_c = start_dashboards_as(&layout, &backend.config_path, &backend.dirs.logs, "dashboards-c", c, Some("dash-a")).await?;
    for base in [format!("http://{c}"), base_a.clone()] {
        http.get(format!("{base}/content?period=7d")).header("cookie", &cookie).send().await?;
    }
    let chains = audit.verify().await?;
    let forks: Vec<String> = chains.breaks().filter(|(w, _)| *w == "dash-a").map(|(_, b)| b.what.clone()).collect();
    assert!(forks.iter().any(|w| w.contains("appears twice")), "{forks:?}");
    for d in [&mut dash_a, &mut dash_b, &mut dash_c] {
        d.stop();
    }
    backend.stop();
    Ok(())
}

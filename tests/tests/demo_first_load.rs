//! A newcomer's first `make up`: a fresh state seeded exactly as `make up`
//! seeds it ([`devstack::demo_state::ensure`]), the services from the same
//! build `make up` runs, then every page each demo role can reach is opened
//! once, following the links the pages themselves show (the navigation,
//! customers, checks, ...), and none may take more than 2 s on its first
//! load. The heavy pages (segments and clusters, whose k-means runs in the
//! background) answer at once with a "computing" page that reloads itself.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::{Duration, Instant};

use mintmark_e2e::dash::{computed_page, login, password_of};
use mintmark_e2e::start_stack;

const FIRST_LOAD_LIMIT: Duration = Duration::from_secs(2);
/// How long the demo's first segments and clusters may take in the background.
const COMPUTE_LIMIT: Duration = Duration::from_secs(600);
/// More distinct pages than the demo has: a crawl that finds more is
/// following links it should not (query variants counted as pages).
const MAX_PAGES: usize = 120;

/// Paths the crawl does not open: downloads, machine endpoints and forms'
/// targets are not pages.
fn is_page(path: &str) -> bool {
    let skip = ["/api/", "/export/", "/static/", "/assets/", "/logout", "/login", "/metrics", "/notice.md"];
    path.starts_with('/') && !path.starts_with("//") && !skip.iter().any(|s| path.contains(s))
}

/// Pages of one kind (a customer's, a check's) are opened once: the key is
/// the path, or its first two segments when it has more.
fn kind(path: &str) -> String {
    let segments: Vec<&str> = path.split('/').skip(1).collect();
    if segments.len() > 2 { format!("/{}/{}/*", segments[0], segments[1]) } else { path.to_string() }
}

/// The same-site links of a page, unescaped, without their query: one
/// load per distinct page, whatever its parameters.
fn links(html: &str) -> Vec<String> {
    html.split("href=\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .map(|href| href.replace("&amp;", "&"))
        .map(|href| href.split(['?', '#']).next().unwrap_or("").to_string())
        .filter(|p| is_page(p))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_demo_page_answers_its_first_load_within_two_seconds() -> anyhow::Result<()> {
    let stack = start_stack("demo_first_load", None).await?;
    let demo = devstack::demo_state::ensure(&stack.config, &stack.state_dir, &stack.backend.config_path).await?;
    let base = stack.urls.dashboards.clone();
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).timeout(Duration::from_secs(60)).build()?;

    let mut timings: BTreeMap<(String, String), Duration> = BTreeMap::new();
    let mut failures = Vec::new();
    let mut marketing_list = String::new();
    for role in ["admin", "analyst", "marketing", "privacy"] {
        let cookie = login(&http, &base, role, &password_of(&demo, role)?).await?;
        let mut seen: BTreeSet<String> = BTreeSet::new();
        let mut queue: VecDeque<String> = VecDeque::from(["/account".to_string()]);
        while let Some(path) = queue.pop_front() {
            if !seen.insert(kind(&path)) {
                continue;
            }
            anyhow::ensure!(seen.len() <= MAX_PAGES, "{role} reached more than {MAX_PAGES} pages: {seen:?}");
            let started = Instant::now();
            let resp = http.get(format!("{base}{path}")).header("cookie", &cookie).send().await?;
            let status = resp.status().as_u16();
            let body = resp.text().await?;
            let took = started.elapsed();
            // "/" sends a marketing user on to their own pages.
            if status == 303 && path == "/" {
                continue;
            }
            if role == "marketing" && path == "/marketing" {
                marketing_list = body.clone();
            }
            if status != 200 {
                failures.push(format!("{role} {path}: status {status}"));
                continue;
            }
            if took > FIRST_LOAD_LIMIT {
                failures.push(format!("{role} {path}: first load took {took:?}"));
            }
            timings.insert((role.to_string(), path.clone()), took);
            queue.extend(links(&body).into_iter().filter(|p| !seen.contains(&kind(p))));
        }
    }
    let mut report: Vec<_> = timings.iter().map(|((role, path), t)| (t.as_millis(), role.as_str(), path.as_str())).collect();
    report.sort_unstable_by(|a, b| b.cmp(a));
    eprintln!("first loads, slowest first (ms role path):");
    for (ms, role, path) in &report {
        eprintln!("  {ms:>6} {role:<10} {path}");
    }
    // Every role's own pages were reached, not just the account page.
    for (role, page) in [("analyst", "/technology"), ("analyst", "/alerts"), ("marketing", "/marketing/clusters"), ("marketing", "/marketing/segments"), ("privacy", "/privacy/audit"), ("admin", "/admin/users")] {
        anyhow::ensure!(timings.contains_key(&(role.to_string(), page.to_string())), "{role} never reached {page}");
    }
    anyhow::ensure!(failures.is_empty(), "first loads failed:\n{}", failures.join("\n"));
    anyhow::ensure!(
        report.iter().any(|(_, role, path)| *role == "marketing" && path.starts_with("/marketing/customers/")),
        "the crawl opened no customer page; /marketing showed: {}",
        marketing_list.split("<main").nth(1).unwrap_or(&marketing_list).chars().take(3000).collect::<String>()
    );

    // The computing pages finish in the background, and then their first
    // load with a result (and the customers they link to) is as quick.
    let cookie = login(&http, &base, "marketing", &password_of(&demo, "marketing")?).await?;
    let started = Instant::now();
    for path in ["/marketing/segments", "/marketing/clusters"] {
        let (body, took) = computed_page(&http, &base, &cookie, path, COMPUTE_LIMIT).await?;
        eprintln!("{path}: computed in the background within {:?}; its first load with the result took {took:?}", started.elapsed());
        anyhow::ensure!(took <= FIRST_LOAD_LIMIT, "{path} with its result took {took:?}");
        anyhow::ensure!(!body.contains("Not enough data"), "{path} found the demo too small: {body}");
        if let Some(customer) = links(&body).into_iter().find(|p| p.starts_with("/marketing/customers/")) {
            let t = Instant::now();
            http.get(format!("{base}{customer}")).header("cookie", &cookie).send().await?.error_for_status()?;
            eprintln!("{customer}: {:?}", t.elapsed());
            anyhow::ensure!(t.elapsed() <= FIRST_LOAD_LIMIT, "{customer} took {:?}", t.elapsed());
        }
    }
    stack.stop();
    Ok(())
}

//! Where things are in a checkout: binaries, built bundles, tools.

use std::path::{Path, PathBuf};

use anyhow::bail;

#[derive(Debug, Clone)]
pub struct Layout {
    pub root: PathBuf,
    pub target: PathBuf,
}

impl Layout {
    /// The checkout this crate was built from (or `DEVSTACK_ROOT`).
    pub fn discover() -> anyhow::Result<Layout> {
        let root = match std::env::var_os("DEVSTACK_ROOT") {
            Some(r) => PathBuf::from(r),
            None => Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("devstack lives in the workspace").to_path_buf(),
        };
        let target = std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| root.join("target"));
        let target = if target.is_relative() { root.join(target) } else { target };
        Ok(Layout { root, target })
    }

    /// A native binary of the workspace: the dev profile, or the one named
    /// by `DEVSTACK_PROFILE` (benchmarks use `release`). A bench may compare
    /// another build (main before a change) through the same stack:
    /// `DEVSTACK_COLLECTOR_BIN`, `DEVSTACK_DASHBOARDS_BIN`.
    pub fn binary(&self, name: &str) -> PathBuf {
        let var = format!("DEVSTACK_{}_BIN", name.to_ascii_uppercase().replace('-', "_"));
        if let Some(path) = std::env::var_os(var) {
            return PathBuf::from(path);
        }
        let profile = std::env::var("DEVSTACK_PROFILE").unwrap_or_else(|_| "debug".into());
        self.target.join(profile).join(name)
    }

    /// The edge worker bundle (`make build-edge`).
    pub fn edge_dist(&self) -> PathBuf {
        self.target.join("dist/edge")
    }

    /// The beacon bundle (`make build-beacon`).
    pub fn tracker_dist(&self) -> PathBuf {
        self.target.join("dist/beacon")
    }

    pub fn demo_site(&self) -> PathBuf {
        self.root.join("demo/site")
    }

    pub fn workerd(&self) -> PathBuf {
        self.root.join("node_modules/.bin/workerd")
    }

    /// Fails with the command to run when something is not built yet.
    pub fn check_built(&self, what: &[&str]) -> anyhow::Result<()> {
        let needed: Vec<PathBuf> = what
            .iter()
            .map(|w| match *w {
                "edge" => self.edge_dist().join("edge_bg.wasm"),
                "beacon" => self.tracker_dist().join("beacon.wasm"),
                "workerd" => self.workerd(),
                bin => self.binary(bin),
            })
            .collect();
        let missing: Vec<String> = needed.iter().filter(|p| !p.exists()).map(|p| p.display().to_string()).collect();
        if !missing.is_empty() {
            bail!("not built yet: {} (run `make build`, or `make up` / `make test` which build first)", missing.join(", "));
        }
        Ok(())
    }
}

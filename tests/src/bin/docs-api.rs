//! `make docs-api`: writes the manual's API reference (`docs/src/api/`)
//! from the services' OpenAPI descriptions.

fn main() -> anyhow::Result<()> {
    let dir = devstack::Layout::discover()?.root.join("docs/src/api");
    mintmark_e2e::apidoc::write_all(&dir)?;
    for (path, _) in mintmark_e2e::apidoc::pages() {
        println!("wrote {}", dir.join(path).display());
    }
    Ok(())
}

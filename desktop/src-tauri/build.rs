//! Tauri's build step, with the app's own commands listed so that each gets a permission and
//! the main window is granted exactly those: a command not in `src/commands/names.rs` cannot be
//! invoked from the WebView. The set granting them (`permissions/app-commands.toml`, named in
//! `capabilities/default.json`) is written from the same list, so the two cannot drift.

include!("src/commands/names.rs");

fn main() {
    let permissions: Vec<String> = COMMANDS
        .iter()
        .map(|c| format!("  \"allow-{}\",", c.replace('_', "-")))
        .collect();
    let set = format!(
        "# Written by build.rs from src/commands/names.rs: do not edit.\n\n[[set]]\nidentifier = \"allow-app-commands\"\ndescription = \"Every command of the app, and nothing else.\"\npermissions = [\n{}\n]\n",
        permissions.join("\n")
    );
    let path = std::path::Path::new("permissions/app-commands.toml");
    if std::fs::read_to_string(path).ok().as_deref() != Some(set.as_str()) {
        std::fs::create_dir_all("permissions").expect("permissions/ can be created");
        std::fs::write(path, set).expect("permissions/app-commands.toml can be written");
    }
    println!("cargo::rerun-if-changed=src/commands/names.rs");
    tauri_build::try_build(
        tauri_build::Attributes::new()
            .app_manifest(tauri_build::AppManifest::new().commands(COMMANDS)),
    )
    .unwrap_or_else(|e| panic!("tauri build step failed: {e:#}"));
}

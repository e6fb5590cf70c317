//! Composition root: on wasm32 it installs the panic hook and mounts the Leptos app; natively it is the
//! `tokenmeter` command (`crates/cli`).

#[cfg(target_arch = "wasm32")]
fn main() {
    console_error_panic_hook::set_once();
    leptos::mount::mount_to_body(tokenmeter::ui::App);
}

#[cfg(not(target_arch = "wasm32"))]
fn main() -> std::process::ExitCode {
    tokenmeter_cli::main()
}

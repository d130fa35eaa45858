//! The Relavium desktop app: [`relavium_desktop::run`].

#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

fn main() -> std::process::ExitCode {
    relavium_desktop::run()
}

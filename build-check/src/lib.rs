//! Nothing at run time: this crate exists for its build script (`build.rs`), which stops the
//! build with our own message when the machine lacks what llama.cpp's build needs, before that
//! build can fail with a bindgen panic or a cmake backtrace. `relavium-llm`'s `local` feature
//! depends on it. The list it checks is the one `cargo xtask setup` installs from
//! (`xtask/src/prerequisites.rs`), read by the build script itself.

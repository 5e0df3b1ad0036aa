fn main() -> std::process::ExitCode {
    kabine::cli::main()
}

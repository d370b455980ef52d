fn main() {
    std::process::exit(deltagen::cli::main());
}

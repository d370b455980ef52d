fn main() {
    println!("deltagen {}", deltagen::version());
}

//! `cargo run --release -p billrun-render --example bench_render [ITERATIONS]`:
//! prints the render benchmark (see `billrun_render::bench`).

fn main() {
    let mut opts = billrun_render::BenchOptions::default();
    if let Some(n) = std::env::args().nth(1).and_then(|a| a.parse().ok()) {
        opts.iterations = n;
    }
    print!("{}", billrun_render::bench(&opts));
}

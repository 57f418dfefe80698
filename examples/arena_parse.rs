//! A per-request parse tree in the thread's bump arena, on a rayon pool.
//!
//! Each request is a small arithmetic expression in prefix notation, e.g.
//! `(+ 1 (* 2 3) (- 10 4))`. It is tokenised and parsed into a tree whose
//! nodes live in `arena::with`'s arena, evaluated, and the whole tree is
//! released in one step when the scope ends. The same parser with `Box`ed
//! nodes runs for comparison, and every task checks that it starts from an
//! empty arena: nothing leaks from one pool task to the next.
//!
//! ```text
//! cargo run --release --example arena_parse
//! ```

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use bumpalo::collections::Vec as BumpVec;
use bumpalo::Bump;
use rayon::prelude::*;
use threadkit::arena;

/// A parse tree node allocated in the arena: children are arena slices.
enum Expr<'a> {
    Num(i64),
    Op(u8, &'a [Expr<'a>]),
}

/// The same tree with heap nodes.
enum BoxExpr {
    Num(i64),
    Op(u8, Vec<BoxExpr>),
}

struct Tokens<'s> {
    rest: &'s str,
}

impl<'s> Iterator for Tokens<'s> {
    type Item = &'s str;
    fn next(&mut self) -> Option<&'s str> {
        let s = self.rest.trim_start();
        let len = match s.chars().next()? {
            '(' | ')' => 1,
            _ => s
                .find(|c: char| c.is_whitespace() || c == '(' || c == ')')
                .unwrap_or(s.len()),
        };
        let (token, rest) = s.split_at(len);
        self.rest = rest;
        Some(token)
    }
}

fn parse_in<'a>(bump: &'a Bump, tokens: &mut Tokens<'_>) -> Expr<'a> {
    match tokens.next().expect("unexpected end of input") {
        "(" => {
            let op = tokens.next().expect("operator").as_bytes()[0];
            let mut args = BumpVec::new_in(bump);
            while !tokens.rest.trim_start().starts_with(')') {
                args.push(parse_in(bump, tokens));
            }
            tokens.next(); // ')'
            Expr::Op(op, args.into_bump_slice())
        }
        number => Expr::Num(number.parse().expect("a number")),
    }
}

fn eval(e: &Expr<'_>) -> i64 {
    match e {
        Expr::Num(n) => *n,
        Expr::Op(op, args) => fold(*op, args.iter().map(eval)),
    }
}

fn parse_boxed(tokens: &mut Tokens<'_>) -> BoxExpr {
    match tokens.next().expect("unexpected end of input") {
        "(" => {
            let op = tokens.next().expect("operator").as_bytes()[0];
            let mut args = Vec::new();
            while !tokens.rest.trim_start().starts_with(')') {
                args.push(parse_boxed(tokens));
            }
            tokens.next();
            BoxExpr::Op(op, args)
        }
        number => BoxExpr::Num(number.parse().expect("a number")),
    }
}

fn eval_boxed(e: &BoxExpr) -> i64 {
    match e {
        BoxExpr::Num(n) => *n,
        BoxExpr::Op(op, args) => fold(*op, args.iter().map(eval_boxed)),
    }
}

fn fold(op: u8, mut values: impl Iterator<Item = i64>) -> i64 {
    let first = values.next().unwrap_or(0);
    values.fold(first, |acc, v| match op {
        b'+' => acc.wrapping_add(v),
        b'-' => acc.wrapping_sub(v),
        _ => acc.wrapping_mul(v),
    })
}

/// A request: a random-looking but deterministic expression of ~`size` nodes.
fn request(seed: u64, size: u32) -> String {
    fn build(out: &mut String, state: &mut u64, budget: &mut u32) {
        *state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let pick = (*state >> 33) % 4;
        if *budget == 0 || pick == 0 {
            out.push_str(&((*state >> 40) % 100).to_string());
            return;
        }
        *budget -= 1;
        out.push('(');
        out.push(['+', '-', '*'][(pick - 1) as usize]);
        for _ in 0..2 + (*state >> 50) % 3 {
            out.push(' ');
            build(out, state, budget);
        }
        out.push(')');
    }
    let mut out = String::new();
    let (mut state, mut budget) = (seed, size);
    build(&mut out, &mut state, &mut budget);
    out
}

fn main() {
    let requests: Vec<String> = (0..20_000).map(|i| request(i, 200)).collect();
    let rounds = 20;
    println!(
        "{} requests × {rounds} rounds on a rayon pool of {} threads\n",
        requests.len(),
        rayon::current_num_threads()
    );

    let dirty = AtomicUsize::new(0);
    let start = Instant::now();
    let mut arena_sum = 0i64;
    for _ in 0..rounds {
        arena_sum = requests
            .par_iter()
            .map(|text| {
                arena::with(|bump| {
                    // Nothing left over from the task that ran here before.
                    if bump.allocated_bytes() != bump.chunk_capacity() {
                        dirty.fetch_add(1, Ordering::Relaxed);
                    }
                    let tree = parse_in(bump, &mut Tokens { rest: text });
                    eval(&tree)
                })
            })
            .reduce(|| 0, i64::wrapping_add);
    }
    let with_arena = start.elapsed();

    let start = Instant::now();
    let mut box_sum = 0i64;
    for _ in 0..rounds {
        box_sum = requests
            .par_iter()
            .map(|text| eval_boxed(&parse_boxed(&mut Tokens { rest: text })))
            .reduce(|| 0, i64::wrapping_add);
    }
    let with_box = start.elapsed();

    assert_eq!(arena_sum, box_sum, "both parsers agree");
    let rate = |d: std::time::Duration| (requests.len() * rounds) as f64 / d.as_secs_f64() / 1e6;
    println!("Box / Vec nodes       {:>8.2} M requests/s", rate(with_box));
    println!(
        "arena::with           {:>8.2} M requests/s ({:.2}× the rate of Box / Vec nodes)",
        rate(with_arena),
        with_box.as_secs_f64() / with_arena.as_secs_f64()
    );
    println!(
        "tasks that found another task's allocations in their arena: {}",
        dirty.load(Ordering::Relaxed)
    );
    let kept = rayon::broadcast(|_| arena::retained_bytes());
    println!(
        "bytes each pool thread keeps in its arenas between requests: {kept:?} (cap {} per arena)",
        arena::DEFAULT_MAX_BYTES
    );
}

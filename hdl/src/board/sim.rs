//! Runs `DeltaBoard` in the rust-hdl simulator behind a model of the serial line: bytes for the
//! board go out bit by bit on `uart_rx`, `uart_tx` is sampled back into bytes. Tests drive it
//! directly or connect it to a pseudo-terminal so `deltagen host` talks to it.

use super::board_top::DeltaBoard;
use super::line::{LineRx, LineTx, RxEvent};
use crate::harness::ClockedSim;
use rust_hdl::prelude::*;

pub struct BoardSim {
    pub sim: ClockedSim<DeltaBoard>,
    to_board: LineTx,
    from_board: LineRx,
    /// Characters the board sent with a low stop bit (should stay 0).
    pub framing_errors: u64,
}

impl BoardSim {
    /// `divisor`: the board's UART cycles per bit (the line runs at exactly that rate).
    pub fn new(board: DeltaBoard, divisor: u32) -> Result<BoardSim, String> {
        let mut sim = ClockedSim::new(board, |u, c| u.clk.next = Clock::from(c))?;
        sim.uut.uart_rx.next = true;
        Ok(BoardSim {
            sim,
            to_board: LineTx::new(f64::from(divisor)),
            from_board: LineRx::new(f64::from(divisor)),
            framing_errors: 0,
        })
    }

    /// Queues bytes for the board.
    pub fn send(&mut self, bytes: &[u8]) {
        self.to_board.send(bytes);
    }

    /// Bytes queued for the board and not yet started on the line.
    pub fn queued(&self) -> usize {
        self.to_board.queued()
    }

    /// One clock cycle; returns a byte the board finished sending in it.
    pub fn step(&mut self) -> Result<Option<u8>, String> {
        self.sim.uut.uart_rx.next = self.to_board.level();
        self.sim.cycle()?;
        Ok(match self.from_board.sample(self.sim.uut.uart_tx.val()) {
            Some(RxEvent::Byte(b)) => Some(b),
            Some(RxEvent::FramingError(_)) => {
                self.framing_errors += 1;
                None
            }
            None => None,
        })
    }

    /// Runs until `n` bytes came back or `limit` cycles passed; returns what came back.
    pub fn receive(&mut self, n: usize, limit: u64) -> Result<Vec<u8>, String> {
        let mut out = Vec::with_capacity(n);
        for _ in 0..limit {
            if out.len() == n {
                break;
            }
            if let Some(b) = self.step()? {
                out.push(b);
            }
        }
        if out.len() < n {
            return Err(format!(
                "board sent {} of {n} bytes in {limit} cycles",
                out.len()
            ));
        }
        Ok(out)
    }
}

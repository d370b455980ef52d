//! A software model of a serial line (8N1) for testbenches: one side turns bytes into the level
//! of the line cycle by cycle, the other samples a line and recovers bytes. The bit period is a
//! real number of clock cycles, so tests can model a baud-rate mismatch.

use std::collections::VecDeque;

/// Drives a line: the level for each clock cycle, idle high.
pub struct LineTx {
    period: f64,
    queue: VecDeque<u8>,
    /// Frame being sent (start, 8 data bits LSB first, stop) and the cycle it started.
    current: Option<(u16, u64)>,
    now: u64,
}

impl LineTx {
    /// `period`: clock cycles per bit.
    pub fn new(period: f64) -> LineTx {
        LineTx {
            period,
            queue: VecDeque::new(),
            current: None,
            now: 0,
        }
    }

    pub fn send(&mut self, bytes: &[u8]) {
        self.queue.extend(bytes.iter().copied());
    }

    /// Nothing queued or in flight.
    pub fn idle(&self) -> bool {
        self.current.is_none() && self.queue.is_empty()
    }

    /// Bytes not yet started.
    pub fn queued(&self) -> usize {
        self.queue.len()
    }

    /// The line level during the next cycle (call once per cycle).
    pub fn level(&mut self) -> bool {
        let t = self.now;
        self.now += 1;
        if let Some((_, start)) = self.current {
            if (t - start) as f64 >= 10.0 * self.period {
                self.current = None;
            }
        }
        if self.current.is_none() {
            // The next frame starts right after the previous stop bit (back-to-back bytes).
            if let Some(b) = self.queue.pop_front() {
                self.current = Some(((u16::from(b) << 1) | (1 << 9), t));
            }
        }
        match self.current {
            None => true,
            Some((frame, start)) => {
                let bit = ((t - start) as f64 / self.period) as u32;
                frame >> bit & 1 == 1
            }
        }
    }
}

/// What a received character was.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RxEvent {
    Byte(u8),
    /// The stop bit was low.
    FramingError(u8),
}

/// Samples a line once per cycle and recovers 8N1 characters (mid-bit sampling).
pub struct LineRx {
    period: f64,
    prev: bool,
    /// Cycle of the start bit's falling edge while a character is being received.
    start: Option<u64>,
    bits: u16,
    next_bit: u32,
    now: u64,
}

impl LineRx {
    pub fn new(period: f64) -> LineRx {
        LineRx {
            period,
            prev: true,
            start: None,
            bits: 0,
            next_bit: 0,
            now: 0,
        }
    }

    /// Feeds the level of one cycle; returns a character when its stop bit has been sampled.
    pub fn sample(&mut self, level: bool) -> Option<RxEvent> {
        let t = self.now;
        self.now += 1;
        let mut out = None;
        match self.start {
            None => {
                if self.prev && !level {
                    self.start = Some(t);
                    self.bits = 0;
                    self.next_bit = 0;
                }
            }
            Some(s) => {
                let centre = s as f64 + (f64::from(self.next_bit) + 0.5) * self.period;
                if t as f64 >= centre {
                    if level {
                        self.bits |= 1 << self.next_bit;
                    }
                    self.next_bit += 1;
                    if self.next_bit == 1 && level {
                        // A glitch, not a start bit.
                        self.start = None;
                    } else if self.next_bit == 10 {
                        let byte = (self.bits >> 1) as u8;
                        out = Some(if self.bits >> 9 & 1 == 1 {
                            RxEvent::Byte(byte)
                        } else {
                            RxEvent::FramingError(byte)
                        });
                        self.start = None;
                    }
                }
            }
        }
        self.prev = level;
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_round_trip() {
        for period in [4.0, 5.5, 16.0] {
            let mut tx = LineTx::new(period);
            let mut rx = LineRx::new(period);
            let data: Vec<u8> = (0..=255u8).step_by(7).chain([0, 255, 0x55]).collect();
            tx.send(&data);
            let mut got = Vec::new();
            for _ in 0..(data.len() as f64 * 10.0 * period) as usize + 50 {
                if let Some(RxEvent::Byte(b)) = rx.sample(tx.level()) {
                    got.push(b);
                }
            }
            assert_eq!(got, data, "period {period}");
            assert!(tx.idle());
        }
    }
}

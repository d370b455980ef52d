//! The accelerator on real boards: UART blocks, the serial stream bridge with its framing
//! protocol (docs/board.md), the PLL wrappers and the board top `deltagen_board`, plus the board
//! descriptions a synthesis step uses (`boards::BOARDS`).
//!
//! One block per file: `uart_rx`, `uart_tx`, `byte_fifo`, `bridge`, `clock_gen`, `board_top`.
//! Not blocks: `pll` (PLL settings), `boards` (board table and planning), `protocol` (byte
//! values), `line` and `sim` (serial line model and board simulation for tests).

pub mod board_top;
pub mod boards;
pub mod bridge;
pub mod byte_fifo;
pub mod clock_gen;
pub mod line;
pub mod pll;
pub mod protocol;
pub mod sim;
pub mod uart_rx;
pub mod uart_tx;

pub use boards::{board, board_names, Board, BoardConfig, BoardPlan, BOARDS, BOARD_TOP_NAME};

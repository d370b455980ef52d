## Arty A7-35T (xc7a35ticsg324-1L), Vivado: the ports of deltagen_board (rtl/deltagen_board.v,
## from `deltagen generate --board arty-a7`). Pins as in Digilent's Arty-A7-35-Master.xdc.
## Add rtl/deltagen_board.v as the design source with rtl/*.hex as memory initialisation
## files (Vivado reads $readmemh paths relative to the project; keep them next to the .v).

## 100 MHz oscillator; MMCME2_BASE + BUFG make the design clock, and Vivado derives its
## constraint from this one.
set_property -dict { PACKAGE_PIN E3 IOSTANDARD LVCMOS33 } [get_ports { clk }];
create_clock -add -name sys_clk_pin -period 10.00 -waveform {0 5} [get_ports { clk }];

## USB-UART (FT2232HQ channel B): uart_txd_in is the FPGA's input.
set_property -dict { PACKAGE_PIN A9  IOSTANDARD LVCMOS33 } [get_ports { uart_rx }];
set_property -dict { PACKAGE_PIN D10 IOSTANDARD LVCMOS33 } [get_ports { uart_tx }];

## LEDs LD4..LD6 (active high).
set_property -dict { PACKAGE_PIN H5 IOSTANDARD LVCMOS33 } [get_ports { led_heartbeat }];
set_property -dict { PACKAGE_PIN J5 IOSTANDARD LVCMOS33 } [get_ports { led_busy }];
set_property -dict { PACKAGE_PIN T9 IOSTANDARD LVCMOS33 } [get_ports { led_error }];

## The serial input is synchronised in the fabric, the outputs are slow: no I/O timing.
set_false_path -from [get_ports { uart_rx }]
set_false_path -to [get_ports { uart_tx led_heartbeat led_busy led_error }]

set_property CFGBVS VCCO [current_design]
set_property CONFIG_VOLTAGE 3.3 [current_design]

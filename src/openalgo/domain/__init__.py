"""Pure domain types: enums, symbols, orders, money. No I/O."""

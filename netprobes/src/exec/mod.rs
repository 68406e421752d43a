//! Plugin execution for the `nagios` engine: spawn, time out, cap, parse.

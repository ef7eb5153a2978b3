"""The stove guard: relays on the flame-failure loop, timers, schedules and their interfaces."""

"""Policies that decide what an agent's SQL may do before the engine ever sees it."""

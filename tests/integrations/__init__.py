"""Tests of the voice-agent framework plugins against the real gateway and simulator."""

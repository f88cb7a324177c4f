"""Synthetic presentations for testing and benchmarking liveness.

Genuine samples are rendered from the real face photos that the installed
packages ship (a face relief model placed at the detected landmarks, a head
turn rendered on that relief); attacks are what a printed photo or a screen
gives the same sensors. The code that judges liveness never imports this.
"""

"""Pick recognition: weight events, the multiset solver, vision, fusion into a basket."""

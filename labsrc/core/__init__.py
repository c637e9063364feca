"""What every layer uses: names, typed results, the GIL probe, layout, allocator, the worker side, the environment."""

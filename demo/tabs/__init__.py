"""The app's pages: one builder per tab lays out its components, wires their events to ``demo.services``
and returns them as a typed object; ``demo.ui.build_demo`` composes the tabs."""

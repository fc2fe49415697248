# tests/cli: rules come with the component.

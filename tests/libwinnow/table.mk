# tests/core: rules come with the component.

# tests/sdk: rules come with the component.

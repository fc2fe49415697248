# tests/executor: rules come with the component.

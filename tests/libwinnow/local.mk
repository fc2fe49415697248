# tests/libwinnow: rules come with the component.

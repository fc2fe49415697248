# plugins/backends/actor_pool: rules come with the component.
